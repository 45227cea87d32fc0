"""What a PR is told, end to end on the sandbox (real HTTP, real client, the queue with SQLite):
`/status`, unknown commands, replies to `/single` and `/priority`, and the report comment's queue
block edited as the PR is queued, tested, preempted and landed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlgate.bot.observability import metrics
from mlgate.bot.pr.queue_block import QUEUE_BLOCK_START
from mlgate.names import REPLY_MARKER_PREFIX
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.bot.conftest import running_sandbox
from tests.bot.test_queue_e2e import BOT, World

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("status-sandbox"), ("alice", "bob", "carol", BOT)) as srv:
        yield srv


def comments(w: World, number: int) -> list[dict[str, Any]]:
    resp = w.sandbox.api("GET", f"/repos/{w.repo}/issues/{number}/comments", "alice")
    resp.raise_for_status()
    return list(resp.json())


def say(w: World, number: int, body: str) -> dict[str, Any]:
    """Comment as alice, let the bot settle; the bot's reply to that comment (or {})."""
    resp = w.sandbox.api("POST", f"/repos/{w.repo}/issues/{number}/comments", "alice", json={"body": body})
    resp.raise_for_status()
    cid = resp.json()["id"]
    w.settle()
    marker = f"{REPLY_MARKER_PREFIX}{cid} -->"
    replies = [c for c in comments(w, number) if marker in c["body"]]
    reactions = w.sandbox.api("GET", f"/repos/{w.repo}/issues/comments/{cid}/reactions", "alice").json()
    return {"reply": replies[0]["body"] if replies else "", "reactions": [r["content"] for r in reactions]}


def queue_block(w: World, number: int) -> str:
    body = w.report(number)
    assert QUEUE_BLOCK_START in body
    return body.split(QUEUE_BLOCK_START, 1)[1].split("<!--", 1)[0].strip()


def github_calls() -> dict[tuple[str, str], float]:
    text = metrics.exposition()[0].decode()
    return {(s.labels["kind"], s.labels["outcome"]): s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == "mlgate_github_api_calls_total"}


def test_unknown_commands_get_confused_and_the_nearest_known_command(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    calls_before = github_calls()
    w = World(sandbox, sink, tmp_path, "status-unknown")
    a = w.open_pr("a", {"a.txt": "a\n"})
    w.settle()
    for typo, nearest in (("/merg", "/merge"), ("bors r++", "/merge"), ("/stauts", "/status")):
        answer = say(w, a, typo)
        assert answer["reactions"] == ["confused"], typo
        assert f"did you mean `{nearest}`?" in answer["reply"], answer
        assert "Nothing in this comment was run." in answer["reply"]
    answer = say(w, a, "/merg <img src=x onerror=alert(1)>")  # user text is escaped in the reply
    assert "<img" not in answer["reply"]
    assert w.statuses() == {}  # nothing was queued
    calls = github_calls()  # the real client counted its reads and writes for /metrics
    assert calls[("write", "ok")] > calls_before.get(("write", "ok"), 0)
    assert calls[("read", "ok")] > calls_before.get(("read", "ok"), 0)


def test_status_single_priority_reply_and_the_report_follows_the_queue(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    config = "version: 1\nmerge:\n  required_checks: [ci/tests]\n  batch_size: 1\n  adaptive: false\n"
    w = World(sandbox, sink, tmp_path, "status-report", config=config, batch_delay=0.0)
    a, b, c = (w.open_pr(name, {f"{name}.txt": f"{name}\n"}) for name in ("a", "b", "c"))
    w.settle()
    assert "Comment `/merge` to queue this PR" in queue_block(w, a)
    assert "comment /merge" not in w.report(a)  # said once, in the queue block
    answer = say(w, a, "/status")
    assert answer["reactions"] == [] and "not queued" in answer["reply"]

    w.ci.hold = True
    say(w, a, "/merge")
    say(w, b, "/merge")
    assert "being tested in batch" in queue_block(w, a) and "staging commit" in queue_block(w, a)
    assert "queued for main at position 2" in queue_block(w, b)
    assert "Comment `/merge`" not in queue_block(w, b)

    answer = say(w, b, "/status")
    assert "queued for main at position 2" in answer["reply"]
    answer = say(w, b, "/single on")
    assert "tested alone" in answer["reply"] and answer["reactions"] == []

    say(w, c, "/merge")
    assert "position 3" in queue_block(w, c)
    answer = say(w, c, "/priority 5")
    assert "priority set to 5" in answer["reply"]
    # #c outranks the running #a: #a's build is abandoned and #a is told why
    assert "preempted by #" in queue_block(w, a).replace("\u200b", "")
    assert "being tested in batch" in queue_block(w, c)

    w.ci.release()
    w.settle()
    for n in (a, b, c):
        block = queue_block(w, n)
        if "being tested" in block or "queued" in block:  # the later builds' CI
            w.ci.release()
            w.settle()
    w.ci.hold = False
    w.ci.release()
    w.settle()
    assert w.statuses() == {a: "merged", b: "merged", c: "merged"}
    for n in (a, b, c):
        assert "Landed on main in" in queue_block(w, n)
        assert "Comment `/merge`" not in w.report(n)
