"""Alongside GitHub's own merge queue, end to end: the sandbox's ruleset-style queue builds group
commits on `gh-readonly-queue/main/pr-<n>-<sha>` and sends `merge_group`; the bot (real HTTP, real
GitHubForge) sets its `mlgate` check on each group commit with the staging rules, judged with the
config of the group's BASE commit; the branch protection requires `ci/tests` and the bot's `mlgate`,
so GitHub (the sandbox) merges only the group that passed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.bot.pr.repo_config import CONFIG_PATH
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.bot.conftest import running_sandbox
from tests.bot.test_queue_e2e import CHECK, ZERO, FakeCI, World

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("merge-group-sandbox"), ("alice", "bob", "carol")) as srv:
        yield srv


class GroupCI(FakeCI):
    """The fake CI, run on merge-group commits too: red when the tree has a `BROKEN` file."""

    def on_push(self, payload: dict[str, Any]) -> None:
        ref, sha = payload.get("ref", ""), payload.get("after", ZERO)
        if ref.startswith("refs/heads/gh-readonly-queue/") and sha != ZERO:
            resp = self.sandbox.api("GET", f"/repos/{self.repo}/contents/BROKEN", self.token, params={"ref": sha})
            green = resp.status_code == 404
            self.runs.append((ref, sha, green))
            self.sandbox.api("POST", f"/repos/{self.repo}/statuses/{sha}", self.token, json={
                "state": "success" if green else "failure", "context": CHECK}).raise_for_status()
            return
        super().on_push(payload)


def mlgate_runs(sandbox: SandboxServer, repo: str, sha: str) -> list[dict[str, Any]]:
    resp = sandbox.api("GET", f"/repos/{repo}/commits/{sha}/check-runs", "alice", params={"check_name": "mlgate"})
    resp.raise_for_status()
    return list(resp.json()["check_runs"])


def test_the_bot_gates_githubs_merge_queue_with_the_base_config(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = World(sandbox, sink, tmp_path, "merge-group")
    w.ci = GroupCI(sandbox, w.repo)
    bot_app = w.app.app.id  # the App registered from app.yml: its `mlgate` check is the one required
    resp = sandbox.api("PUT", f"/repos/{w.repo}/branches/main/protection", "alice", json={
        "required_status_checks": {"strict": False, "contexts": [],
                                   "checks": [{"context": CHECK}, {"context": "mlgate", "app_id": bot_app}]},
        "enforce_admins": True, "required_pull_request_reviews": None, "restrictions": None})
    assert resp.status_code == 200, resp.text
    good = w.open_pr("good", {"good.txt": "ok\n"})
    # Breaks the build and loosens the config it brings: its own config would require nothing.
    bad = w.open_pr("bad", {"BROKEN": "yes\n", CONFIG_PATH: "version: 1\nmerge:\n  required_checks: []\n"})
    w.settle()
    main_before = w.branch_sha("main")

    first = sandbox.enqueue("alice", w.name, good, "alice")
    second = sandbox.enqueue("alice", w.name, bad, "alice")
    w.settle()

    assert any(event == "merge_group" for event, _ in w.handled)
    good_runs = mlgate_runs(sandbox, w.repo, first["head_sha"])
    assert [(r["status"], r["conclusion"]) for r in good_runs] == [("completed", "success")]
    bad_runs = mlgate_runs(sandbox, w.repo, second["head_sha"])
    assert [(r["status"], r["conclusion"]) for r in bad_runs] == [("completed", "failure")]
    text = bad_runs[0]["output"]["summary"] + (bad_runs[0]["output"]["text"] or "")
    # judged with the config of the group's base commit (the group ahead of it), not the PR's own
    assert second["base_sha"] == first["head_sha"]
    assert f"`{CHECK}` did not pass" in text and first["head_sha"][:12] in text
    assert main_before in {first["base_sha"]}
    assert w.pull(good)["merged"] is True and w.pull(bad)["merged"] is False
    assert w.branch_sha("main") == first["head_sha"]  # main moved once, to the group that passed
    assert sandbox.admin("GET", f"/repos/{w.repo}/merge-queue").json() == []
