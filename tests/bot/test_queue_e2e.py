"""The merge queue end to end over real HTTP: the local GitHub sandbox, its signed webhooks, the real
GitHubForge (PyGithub), the handlers, the queue runner with its SQLite state, and a FAKE CI that
reacts to pushes by posting the required status `ci/tests` with a GITHUB_TOKEN: green on PR branches (a lint-only PR
pipeline), and on `mlgate/staging/**` / `mlgate/try/**` red exactly when the tree has a `BROKEN`
file (a breakage that only the merged result shows).

Deliveries are fed to the dispatcher the way the worker does (handle, then evaluate the PRs it
returned), including the events the bot's own writes cause, until nothing new arrives. The bot is
a GitHub App registered from `app.yml` and installed on the repository (tests/bot/bot_app.py): it
works with installation tokens and hears what its subscription delivers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.bot.intake.handlers import Handlers
from mlgate.bot.pr.repo_config import CONFIG_PATH
from mlgate.bot.store.engine import create_store_engine
from mlgate.bot.store.inbox import Inbox
from mlgate.bot.wiring import build_dispatcher
from mlgate.names import QUEUE_MARKER, REPORT_MARKER
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.bot.bot_app import BotApp, install_bot
from tests.bot.conftest import running_sandbox
from tests.conftest import FakeTime

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out

CHECK = "ci/tests"
CONFIG = f"""\
version: 1
merge:
  required_checks: [{CHECK}]
  batch_size: 8
"""
ZERO = "0" * 40
BATCH_DELAY = 1.0


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("queue-sandbox"), ("alice", "bob", "carol")) as srv:
        yield srv


class FakeCI:
    """Posts `ci/tests` on every pushed branch head, as a workflow does with its GITHUB_TOKEN; `hold`
    defers staging/try results."""

    def __init__(self, sandbox: SandboxServer, repo: str) -> None:
        self.sandbox, self.repo = sandbox, repo
        self.token = sandbox.actions_token(repo)
        self.runs: list[tuple[str, str, bool]] = []  # (branch, sha, green) on staging/try
        self.hold = False
        self.held: list[tuple[str, str]] = []

    def on_push(self, payload: dict[str, Any]) -> None:
        ref, sha = payload.get("ref", ""), payload.get("after", ZERO)
        if not ref.startswith("refs/heads/") or sha == ZERO:
            return
        branch = ref.removeprefix("refs/heads/")
        if branch.startswith("mlgate/tmp/") or branch == "main":
            return
        if branch.startswith("mlgate/staging/"):  # an Actions run too: the queue cancels it if it abandons the build
            resp = self.sandbox.api("POST", f"/repos/{self.repo}/actions/workflows/ci.yml/dispatches", self.token,
                                    json={"ref": sha})
            resp.raise_for_status()
        if branch.startswith(("mlgate/staging/", "mlgate/try/")) and self.hold:
            self.held.append((branch, sha))
            return
        self.run(branch, sha)

    def run(self, branch: str, sha: str) -> None:
        green = True
        if branch.startswith(("mlgate/staging/", "mlgate/try/")):
            resp = self.sandbox.api("GET", f"/repos/{self.repo}/contents/BROKEN", self.token, params={"ref": sha})
            green = resp.status_code == 404
            self.runs.append((branch, sha, green))
        resp = self.sandbox.api("POST", f"/repos/{self.repo}/statuses/{sha}", self.token, json={
            "state": "success" if green else "failure", "context": CHECK, "target_url": f"https://ci.example/{sha}"})
        resp.raise_for_status()

    def release(self) -> None:
        self.hold = False
        held, self.held = self.held, []
        for branch, sha in held:
            self.run(branch, sha)

    def green_shas(self) -> set[str]:
        return {sha for _, sha, green in self.runs if green}


class World:
    """One repository, the bot, the fake CI and a driver feeding deliveries like the worker."""

    def __init__(self, sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path, name: str,
                 config: str = CONFIG, batch_delay: float = BATCH_DELAY) -> None:
        self.sandbox, self.sink = sandbox, sink
        self.batch_delay = batch_delay
        src = tmp_path / "src"
        (src / ".github").mkdir(parents=True)
        (src / CONFIG_PATH).write_text(config)
        (src / "README.md").write_text("# model\n")
        (src / ".github" / "workflows").mkdir()
        (src / ".github" / "workflows" / "ci.yml").write_text("on: [push, workflow_dispatch]\njobs: {}\n")
        self.repo = sandbox.create_repo("alice", name, "alice", from_dir=src)["full_name"]
        self.name = name
        resp = sandbox.api("PUT", f"/repos/{self.repo}/collaborators/bob", "alice", json={"permission": "push"})
        resp.raise_for_status()
        self.app: BotApp = install_bot(sandbox, sink.url, [name])
        self.db_url = f"sqlite:///{tmp_path / 'bot.sqlite'}"
        Inbox.open(self.db_url).close()  # migrations
        self.ci = FakeCI(sandbox, self.repo)
        self.clock = FakeTime(time.time())
        self.bot = self.new_bot()
        self.seen = 0
        self.handled: list[tuple[str, Any]] = []
        self.settle()

    def new_bot(self) -> Handlers:
        settings = self.app.settings(database_url=self.db_url)
        bot = build_dispatcher(settings, create_store_engine(self.db_url), forges=self.app.forges(settings))
        assert bot.queue is not None
        bot.queue.clock = self.clock  # the queue's time moves only when `tick_if_due` moves it
        # bors-ng's batch_delay: a fresh batch waits a moment for more /merge (the worker's tick fires it)
        bot.queue_knobs["batch_delay_seconds"] = self.batch_delay
        return bot

    def settle(self, max_rounds: int = 80, deliver: bool = True) -> None:
        for _ in range(max_rounds):
            assert self.sandbox.wait_for_webhooks(timeout=30), "sandbox webhooks did not drain"
            new = self.sink.deliveries[self.seen:]
            self.seen = len(self.sink.deliveries)
            if not new:
                if not self.tick_if_due():
                    return
                continue
            refs: set[tuple[str, int]] = set()
            for d in new:
                assert d.signature_ok(self.app.secret)
                payload = d.payload
                if payload.get("repository", {}).get("full_name") != self.repo:
                    continue
                if d.event == "push":
                    self.ci.on_push(payload)
                if deliver:
                    self.handled.append((d.event, payload.get("action")))
                    refs |= self.bot.handle(d.event, payload, d.guid)
            for repo, number in sorted(refs):
                self.bot.evaluate(repo, number)
        pytest.fail(f"the bot did not settle: {self.handled[-30:]}")

    def tick_if_due(self, horizon: float = 5.0) -> bool:
        """What the worker's timer does once nothing else happens: move the queue's clock to its next
        wake-up if that is near (no waiting: the clock is injected), then tick."""
        assert self.bot.queue is not None
        wakeup = self.bot.queue.store.load(self.repo).wakeup_at
        if wakeup is None or wakeup - self.clock() > horizon:
            return False
        self.clock.now = max(self.clock.now, wakeup)
        self.bot.tick()
        return True

    def open_pr(self, branch: str, files: dict[str, str | None]) -> int:
        self.sandbox.push_files("alice", self.name, branch, files, "bob", message=f"Change {branch}", base="main")
        return int(self.sandbox.open_pr("alice", self.name, branch, "bob", title=f"Change {branch}")["number"])

    def comment(self, number: int, body: str, user: str = "alice") -> None:
        resp = self.sandbox.api("POST", f"/repos/{self.repo}/issues/{number}/comments", user, json={"body": body})
        resp.raise_for_status()

    def pull(self, number: int) -> dict[str, Any]:
        resp = self.sandbox.api("GET", f"/repos/{self.repo}/pulls/{number}", "alice")
        resp.raise_for_status()
        return resp.json()

    def queue_comments(self, number: int) -> list[str]:
        resp = self.sandbox.api("GET", f"/repos/{self.repo}/issues/{number}/comments", "alice")
        resp.raise_for_status()
        return [c["body"] for c in resp.json() if QUEUE_MARKER in (c.get("body") or "")]

    def report(self, number: int) -> str:
        """The PR's one report comment."""
        resp = self.sandbox.api("GET", f"/repos/{self.repo}/issues/{number}/comments", "alice")
        resp.raise_for_status()
        (body,) = [c["body"] for c in resp.json() if REPORT_MARKER in (c.get("body") or "")]
        return str(body)

    def branch_sha(self, branch: str) -> str | None:
        resp = self.sandbox.api("GET", f"/repos/{self.repo}/git/ref/heads/{branch}", "alice")
        return resp.json()["object"]["sha"] if resp.status_code == 200 else None

    def main_moves(self) -> list[str]:
        """Every SHA main was moved to after the repository was created (from the push webhooks)."""
        return [d.payload["after"] for d in self.sink.events("push")
                if d.payload.get("ref") == "refs/heads/main" and d.payload["repository"]["full_name"] == self.repo
                and d.payload.get("before") != ZERO]

    def statuses(self) -> dict[int, str]:
        return {p.number: p.status for p in self.bot.queue.state(self.repo).pulls}  # type: ignore[union-attr]


def test_six_prs_one_broken_five_land_in_fewer_ci_runs_only_tested_shas_on_main(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    # The queue's clock stands still while deliveries arrive: all six /merge are handled before the
    # batch delay runs out and the first batch starts.
    w = World(sandbox, sink, tmp_path, "queue-six", batch_delay=4.0)
    numbers = [w.open_pr(f"feature-{i}", {f"f{i}.txt": f"{i}\n", **({"BROKEN": "yes\n"} if i == 4 else {})})
               for i in range(1, 7)]
    w.settle()
    for n in numbers:
        w.comment(n, "/merge")
    w.settle()

    broken = numbers[3]
    assert w.statuses() == {n: ("failed" if n == broken else "merged") for n in numbers}
    for n in numbers:
        assert w.pull(n)["merged"] is (n != broken), f"#{n}"
    assert len(w.ci.runs) < 6, w.ci.runs  # batching: fewer CI runs than PRs
    failure = " ".join(w.queue_comments(broken))
    assert CHECK in failure and "failure" in failure
    landed = w.report(numbers[0])  # landing is told in the report comment, edited in place
    assert "**Merge queue**: Landed on main in" in landed and "comment /merge" not in landed
    assert not any("Landed on main" in c for c in w.queue_comments(numbers[0]))
    moves = w.main_moves()
    assert moves and set(moves) <= w.ci.green_shas()  # main only ever pointed at tested, green SHAs
    assert w.branch_sha("main") == moves[-1]
    resp = sandbox.api("GET", f"/repos/{w.repo}/contents/BROKEN", "alice", params={"ref": "main"})
    assert resp.status_code == 404


def two_prs_in_a_held_batch(w: World) -> tuple[int, int]:
    """Two PRs, both `/merge`d into one batch whose CI results are held back."""
    a = w.open_pr("a", {"a.txt": "a\n"})
    b = w.open_pr("b", {"b.txt": "b\n"})
    w.settle()
    w.ci.hold = True
    w.comment(a, "/merge")
    w.comment(b, "/merge")
    w.settle()
    return a, b


def test_a_push_to_a_queued_pr_during_a_running_batch_drops_it(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = World(sandbox, sink, tmp_path, "queue-push")
    a, b = two_prs_in_a_held_batch(w)
    assert w.statuses()[a] == "testing"
    sandbox.push_files("alice", w.name, "b", {"b.txt": "b2\n"}, "bob", message="More b")
    w.settle()
    assert w.statuses()[b] == "cancelled"
    assert any("new commits were pushed" in c for c in w.queue_comments(b))
    w.ci.release()
    w.settle()
    assert w.statuses()[a] == "merged" and w.pull(a)["merged"] is True
    assert w.pull(b)["merged"] is False
    assert set(w.main_moves()) <= w.ci.green_shas()


def test_a_restart_mid_batch_resumes_from_the_stored_state(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = World(sandbox, sink, tmp_path, "queue-restart")
    a, b = two_prs_in_a_held_batch(w)
    staging = w.branch_sha("mlgate/staging/main")
    assert staging and w.statuses()[a] == "testing"
    # The bot dies; CI reports while it is down and those deliveries are lost.
    w.bot = None  # type: ignore[assignment]
    w.ci.release()
    sandbox.wait_for_webhooks(timeout=30)
    w.seen = len(w.sink.deliveries)
    # A new process: only the database survives. Resume re-reads the checks on the staging SHA.
    w.bot = w.new_bot()
    w.bot.queue.resume(w.repo)  # type: ignore[union-attr]
    w.settle()
    assert w.statuses() == {a: "merged", b: "merged"}
    assert staging in w.main_moves()
    assert set(w.main_moves()) <= w.ci.green_shas()


def test_try_reports_the_checks_and_lands_nothing(sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path) -> None:
    w = World(sandbox, sink, tmp_path, "queue-try")
    n = w.open_pr("exp", {"exp.txt": "x\n"})
    w.settle()
    main_before = w.branch_sha("main")
    w.comment(n, "/try")
    w.settle()
    try_sha = w.branch_sha(f"mlgate/try/{n}")
    assert try_sha and (f"mlgate/try/{n}", try_sha, True) in w.ci.runs
    assert w.branch_sha("main") == main_before
    assert w.pull(n)["merged"] is False
    report = " ".join(w.queue_comments(n))
    assert CHECK in report and "success" in report


def test_a_push_to_main_during_the_batch_is_refused_by_github_and_the_batch_is_retested(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = World(sandbox, sink, tmp_path, "queue-moved")
    a = w.open_pr("a", {"a.txt": "a\n"})
    w.settle()
    w.ci.hold = True
    w.comment(a, "/merge")
    w.settle()
    first = w.branch_sha("mlgate/staging/main")
    assert first and w.statuses()[a] == "testing"
    # Someone pushes to main, and the bot misses that webhook: only GitHub's refusal can tell it.
    outside = sandbox.push_files("alice", w.name, "main", {"hotfix.txt": "fix\n"}, "alice", message="Hotfix")
    sandbox.wait_for_webhooks(timeout=30)
    w.seen = len(w.sink.deliveries)
    w.ci.release()
    w.settle()
    assert w.statuses()[a] == "merged"
    assert any("refused" in line for line in w.bot.queue.executed)  # type: ignore[union-attr]
    tip = w.branch_sha("main")
    assert tip != first and tip in w.ci.green_shas()  # rebuilt on the new tip and tested again
    resp = sandbox.api("GET", f"/repos/{w.repo}/compare/{outside}...{tip}", "alice")
    assert resp.json()["status"] == "ahead"  # the hotfix is kept: a fast-forward, never a force


def test_squash_lands_one_tested_commit_per_pr_and_closes_the_prs(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = World(sandbox, sink, tmp_path, "queue-squash", config=CONFIG + "  method: squash\n")
    a = w.open_pr("a", {"a.txt": "a\n"})
    b = w.open_pr("b", {"b.txt": "b\n"})
    w.settle()
    base = w.branch_sha("main")
    w.comment(a, "/merge")
    w.comment(b, "/merge")
    w.settle()
    assert w.statuses() == {a: "merged", b: "merged"}
    tip = w.branch_sha("main")
    assert tip in w.ci.green_shas()
    history = sandbox.api("GET", f"/repos/{w.repo}/commits", "alice", params={"sha": "main"}).json()
    assert [len(c["parents"]) for c in history] == [1, 1, 0]  # two squashed commits on the root, no merges
    assert history[-1]["sha"] == base
    for n in (a, b):
        assert w.pull(n)["state"] == "closed"
        assert "Landed on main" in w.report(n)


def test_delete_branches_waits_for_github_to_mark_the_landed_pr_merged(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """GitHub notices a PR merged by a fast-forward in the background; deleting its head branch before
    that leaves the PR closed and NOT merged (bors-ng's known problem). The queue deletes the branch
    only once GitHub's `pull_request` `closed` event says the PR is merged."""
    w = World(sandbox, sink, tmp_path, "queue-delete", config=CONFIG + "  delete_branches: true\n")
    n = w.open_pr("feature", {"f.txt": "f\n"})
    w.settle()
    sandbox.set_merge_detection(None)  # GitHub is slow to notice the merge
    try:
        w.comment(n, "/merge")
        w.settle()
        assert w.statuses()[n] == "merged"
        assert w.branch_sha("feature") is not None, "the head branch was deleted before GitHub saw the merge"
        assert w.pull(n)["state"] == "open"
        assert sandbox.detect_merges() == 1
        w.settle()
    finally:
        sandbox.set_merge_detection(0.2)
    pr = w.pull(n)
    assert (pr["state"], pr["merged"]) == ("closed", True)
    assert w.branch_sha("feature") is None


def test_a_pr_changing_a_workflow_fails_with_the_permission_github_wants(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """app.yml does not ask for `workflows` (it would let the App rewrite CI), and GitHub refuses an App
    without it to build a commit that changes `.github/workflows/`: the PR fails, saying so, and the
    queue goes on with the others."""
    w = World(sandbox, sink, tmp_path, "queue-workflow")
    ci = w.open_pr("ci", {".github/workflows/ci.yml": "on: push\n"})
    docs = w.open_pr("docs", {"docs.txt": "d\n"})
    w.settle()
    w.comment(ci, "/merge")
    w.comment(docs, "/merge")
    w.settle()
    assert w.statuses() == {ci: "failed", docs: "merged"}
    said = " ".join(w.queue_comments(ci))
    assert "refusing to allow a GitHub App to create or update workflow" in said and "workflows: write" in said, said


def test_a_pr_that_conflicts_with_main_fails_with_a_comment(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = World(sandbox, sink, tmp_path, "queue-conflict")
    n = w.open_pr("clash", {"README.md": "# theirs\n"})
    sandbox.push_files("alice", w.name, "main", {"README.md": "# ours\n"}, "alice", message="Edit README")
    w.settle()
    w.comment(n, "/merge")
    w.settle()
    assert w.statuses()[n] == "failed"
    assert any("does not merge cleanly" in c for c in w.queue_comments(n))
    assert not w.ci.runs
    refs = sandbox.api("GET", f"/repos/{w.repo}/git/matching-refs/heads/mlgate/tmp", "alice")
    assert refs.status_code == 200 and refs.json() == []  # the temporary branch is cleaned up


def test_rebase_lands_the_prs_commits_replayed_linearly(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = World(sandbox, sink, tmp_path, "queue-rebase", config=CONFIG + "  method: rebase\n")
    sandbox.push_files("alice", w.name, "two", {"one.txt": "1\n"}, "bob", message="First step", base="main")
    n = w.open_pr("two", {"two.txt": "2\n"})  # a second commit on the same branch
    w.settle()
    w.comment(n, "/merge")
    w.settle()
    assert w.statuses() == {n: "merged"}
    tip = w.branch_sha("main")
    assert tip in w.ci.green_shas()
    history = sandbox.api("GET", f"/repos/{w.repo}/commits", "alice", params={"sha": "main"}).json()
    assert [len(c["parents"]) for c in history] == [1, 1, 0]
    assert [c["commit"]["message"].splitlines()[0] for c in history[:2]] == ["Change two", "First step"]
    assert w.pull(n)["state"] == "closed"


def test_branch_protection_requiring_the_mlgate_check_lets_the_tested_staging_commit_land(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """GitHub refuses a push to a protected branch unless the SHA pushed carries every required check;
    the usual protection requires `mlgate` (the bot's summary). The bot sets it on the staging commit,
    after every required check passed there and before it fast-forwards."""
    w = World(sandbox, sink, tmp_path, "queue-protected")
    resp = sandbox.api("PUT", f"/repos/{w.repo}/branches/main/protection", "alice", json={
        "required_status_checks": {"strict": False, "contexts": ["mlgate", CHECK]}, "enforce_admins": True,
        "required_pull_request_reviews": None, "restrictions": None})
    resp.raise_for_status()
    a = w.open_pr("a", {"a.txt": "a\n"})
    w.settle()
    w.comment(a, "/merge")
    w.settle()
    assert w.statuses()[a] == "merged" and w.pull(a)["merged"] is True
    tip = w.branch_sha("main")
    assert tip in w.ci.green_shas()
    runs = sandbox.api("GET", f"/repos/{w.repo}/commits/{tip}/check-runs", "alice").json()["check_runs"]
    mlgate = [r for r in runs if r["name"] == "mlgate"]
    assert mlgate and mlgate[-1]["conclusion"] == "success", runs


SPECULATIVE = f"""\
version: 1
merge:
  required_checks: [{CHECK}]
  batch_size: 1
  adaptive: false
  parallel: 2
  confirm_threshold: 2
"""


def test_speculative_batch_on_a_failed_one_is_rebuilt_without_it_and_lands(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """`merge.parallel: 2`: batch K (#a, broken) is tested on main while K+1 (#b) is tested on K's
    staging commit, on its own ref. K fails, so K+1 (red too: it contains #a) is abandoned, rebuilt on
    main without #a, and lands; main only ever moves to SHAs CI passed."""
    w = World(sandbox, sink, tmp_path, "queue-speculative", config=SPECULATIVE, batch_delay=0.0)
    a = w.open_pr("a", {"a.txt": "a\n", "BROKEN": "yes\n"})
    b = w.open_pr("b", {"b.txt": "b\n"})
    c = w.open_pr("c", {"c.txt": "c\n"})
    w.settle()
    w.ci.hold = True
    for n in (a, b, c):
        w.comment(n, "/merge")
    w.settle()
    first, second = w.branch_sha("mlgate/staging/main"), w.branch_sha("mlgate/staging/main@2")
    assert first and second and first != second
    assert {n: w.statuses()[n] for n in (a, b)} == {a: "testing", b: "testing"}
    assert w.statuses()[c] == "queued"  # two builds in flight, no more
    parents = sandbox.api("GET", f"/repos/{w.repo}/commits/{second}", "alice").json()["parents"]
    assert first in [p["sha"] for p in parents]  # K+1 is built on K's staging commit
    w.ci.release()
    w.settle()
    for _ in range(5):  # rebuilt batches are held no more; release whatever CI still holds
        w.ci.release()
        w.settle()
    assert w.statuses() == {a: "failed", b: "merged", c: "merged"}
    assert w.pull(b)["merged"] is True and w.pull(c)["merged"] is True
    assert any("abandoned build" in line for line in w.bot.queue.executed)  # type: ignore[union-attr]
    moves = w.main_moves()
    assert moves and set(moves) <= w.ci.green_shas()
    assert second not in moves  # the speculative commit with #a never lands
    runs = sandbox.api("GET", f"/repos/{w.repo}/actions/runs", "alice", params={"head_sha": second}).json()
    assert [r["conclusion"] for r in runs["workflow_runs"]] == ["cancelled"]  # its CI was cancelled
    landed = sandbox.api("GET", f"/repos/{w.repo}/actions/runs", "alice", params={"head_sha": moves[-1]}).json()
    assert [r["conclusion"] for r in landed["workflow_runs"]] == [None]  # nothing landed was cancelled
    resp = sandbox.api("GET", f"/repos/{w.repo}/contents/BROKEN", "alice", params={"ref": "main"})
    assert resp.status_code == 404


PROBING = f"""\
version: 1
merge:
  required_checks: [{CHECK}]
  batch_size: 2
  adaptive: false
  parallel: 3
  confirm_threshold: 2
"""


def test_a_failed_batch_is_bisected_by_a_probe_while_the_fresh_prs_land_beside_it(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """`merge.parallel: 3`: (#x, #a broken) fails on main with (#b, #c) and (#d) stacked on it. Those are
    rebuilt on main at once, while a probe tests #x alone on a staging ref of its own: green, so #a is
    singled out without a run of its own and #x lands in a later batch. The probe's commit never lands;
    main only ever moves to SHAs CI passed."""
    w = World(sandbox, sink, tmp_path, "queue-probe", config=PROBING, batch_delay=4.0)
    x = w.open_pr("x", {"x.txt": "x\n"})
    a = w.open_pr("a", {"a.txt": "a\n", "BROKEN": "yes\n"})
    b = w.open_pr("b", {"b.txt": "b\n"})
    c = w.open_pr("c", {"c.txt": "c\n"})
    d = w.open_pr("d", {"d.txt": "d\n"})
    w.settle()
    w.ci.hold = True
    for n in (x, a, b, c, d):
        w.comment(n, "/merge")
    w.settle()
    for _ in range(6):
        w.ci.release()
        w.settle()
    assert w.statuses() == {x: "merged", a: "failed", b: "merged", c: "merged", d: "merged"}
    moves = w.main_moves()
    assert moves and set(moves) <= w.ci.green_shas()
    probes = [(branch, sha) for branch, sha, green in w.ci.runs if green and sha not in moves]
    assert len(probes) == 1 and probes[0][0].startswith("mlgate/staging/main")  # #x alone: tested, never landed
    resp = sandbox.api("GET", f"/repos/{w.repo}/contents/BROKEN", "alice", params={"ref": "main"})
    assert resp.status_code == 404
    comments = [c["body"] for c in sandbox.api("GET", f"/repos/{w.repo}/issues/{a}/comments", "alice").json()]
    assert any("singled out by bisection" in body for body in comments), comments


def test_pause_needs_maintain_holds_new_batches_across_a_restart_and_resume_lands_them(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    w = World(sandbox, sink, tmp_path, "queue-pause")
    a = w.open_pr("a", {"a.txt": "a\n"})
    w.settle()
    w.comment(a, "/pause main", user="bob")  # push access: not enough to stop everyone's queue
    w.settle()
    replies = [c["body"] for c in sandbox.api("GET", f"/repos/{w.repo}/issues/{a}/comments", "alice").json()]
    assert any("needs **maintain**" in body for body in replies)
    w.comment(a, "/pause main deploy freeze")  # alice owns the repository
    w.settle()
    w.comment(a, "/merge", user="bob")
    w.settle()
    assert w.statuses()[a] == "queued" and w.branch_sha("mlgate/staging/main") is None
    assert any("paused by alice: deploy freeze" in body for body in w.queue_comments(a))
    w.bot = w.new_bot()  # a restart: the pause is in the stored state
    w.bot.tick()
    w.settle()
    assert w.statuses()[a] == "queued"
    w.comment(a, "/resume main")
    w.settle()
    assert w.statuses()[a] == "merged" and w.pull(a)["merged"] is True
