"""The merge queue under GitHub's secondary rate limit (the sandbox's `secondary_rate_limit` fault):
the bot waits as GitHub's `Retry-After` asks, the queue is slower, and it still finishes with nothing
lost, nothing merged twice, no reply posted twice and main only at tested green SHAs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlgate.bot.github.client import ForgeOptions, forge_factory
from mlgate.bot.intake.handlers import Handlers
from mlgate.bot.store.engine import create_store_engine
from mlgate.bot.wiring import build_dispatcher
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.bot.conftest import running_sandbox
from tests.bot.test_queue_e2e import World

pytestmark = pytest.mark.e2e

# Endpoints only the bot calls (the fake CI and the test's own calls stay unrefused), two
# consecutive refusals each: every one of these writes and reads is refused, then repeated.
REFUSED = [
    ("POST", "/repos/{owner}/{repo}/merges", 3),
    ("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}", 2),
    ("POST", "/repos/{owner}/{repo}/git/refs", 2),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", 2),
    ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", 2),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files", 2),
]
COMMENTS = ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 2)  # armed once the /merge are in


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("ratelimit-sandbox"), ("alice", "bob", "carol")) as srv:
        yield srv


class Waits(list[float]):
    """The bot's sleeps, recorded instead of slept (the Retry-After waits it honoured)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class LimitedWorld(World):
    waits: Waits

    def new_bot(self) -> Handlers:
        self.waits = Waits()
        settings = self.app.settings(database_url=self.db_url)
        bot = build_dispatcher(settings, create_store_engine(self.db_url), forges=forge_factory(
            settings, ForgeOptions(seconds_between_writes=0, sleep=self.waits)))
        assert bot.queue is not None
        bot.queue.clock = self.clock
        bot.queue_knobs["batch_delay_seconds"] = self.batch_delay
        return bot


def test_under_secondary_rate_limits_the_queue_slows_down_and_lands_everything_once(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = LimitedWorld(sandbox, sink, tmp_path, "queue-limited", batch_delay=4.0)
    numbers = [w.open_pr(f"f-{i}", {f"f{i}.txt": f"{i}\n", **({"BROKEN": "1\n"} if i == 3 else {})})
               for i in range(1, 6)]
    w.settle()
    for method, path, count in REFUSED:
        sandbox.inject_fault(path, kind="secondary_rate_limit", method=method, count=count, retry_after=2)
    try:
        for n in numbers:
            w.comment(n, "/merge")
        sandbox.inject_fault(COMMENTS[1], kind="secondary_rate_limit", method=COMMENTS[0], count=COMMENTS[2],
                             retry_after=2)
        w.settle()
        faults = sandbox.admin("GET", "/faults").json()
    finally:
        sandbox.admin("DELETE", "/faults")

    broken = numbers[2]
    assert w.statuses() == {n: ("failed" if n == broken else "merged") for n in numbers}
    for n in numbers:
        assert w.pull(n)["merged"] is (n != broken), f"#{n}"
        comments = w.queue_comments(n)
        assert len(comments) == len(set(comments)), f"#{n}: a reply was posted twice: {comments}"
    refused = sum(f["hits"] for f in faults)
    assert refused == sum(count for _, _, count in [*REFUSED, COMMENTS]), faults  # every refusal happened
    assert w.waits.count(2) >= refused  # each refusal waited GitHub's Retry-After
    moves = w.main_moves()
    assert moves and set(moves) <= w.ci.green_shas()
    assert len(moves) == len(set(moves))
