"""The queue runner against the in-memory forge: staging commits built with merges on a temp
branch, a fake CI on the staging SHA, non-force fast-forwards, restarts from the stored state."""

from __future__ import annotations

import pytest

from mlgate.bot.queue.model import (
    CheckUpdate,
    HeadPushed,
    MergeRequested,
    QueueConfig,
    TryRequested,
)
from mlgate.bot.queue.runner import QueueRunner, running_shas
from mlgate.bot.queue.store import QueueStore
from mlgate.bot.store.inbox import Inbox
from mlgate.names import QUEUE_MARKER
from tests.bot.fake_forge import FakeForge
from tests.conftest import FakeTime, wait_until

REPO = "acme/ml"
CHECK = "ci/tests"


class World:
    """A fake GitHub with a commit graph, a runner, and a fake CI on staging/try SHAs."""

    def __init__(self, store: Inbox, config: QueueConfig | None = None) -> None:
        self.forge = FakeForge()
        self.clock = FakeTime()
        self.config = config or QueueConfig(branches=("main",), required_checks=(CHECK,), batch_size=8,
                                            adaptive=False)
        self.store = store
        self.forge.add_commit("b0", content={"base"})
        self.forge.set_branch(REPO, "main", "b0")
        self.runner = self.new_runner()
        self.ci_runs: list[str] = []
        self.green: set[str] = set()

    def new_runner(self) -> QueueRunner:
        return QueueRunner(QueueStore(self.store.engine), lambda repo: self.forge, lambda repo, branch: self.config,
                           clock=self.clock)

    def pr(self, number: int, *, broken: bool = False, conflict: str | None = None) -> str:
        content = {f"pr{number}"} | ({"broken"} if broken else set())
        content |= {f"conflict:{conflict}"} if conflict else set()
        head = self.forge.add_commit(f"h{number}" + "0" * 30, ("b0",), content)
        self.forge.add_pull(REPO, number, head_sha=head)
        return head

    def merge(self, number: int) -> None:
        head = self.forge.pulls[(REPO, number)].head_sha
        self.runner.feed(REPO, [MergeRequested(number, "main", head, "alice", gates="success")])

    def ci(self, rounds: int = 50) -> None:
        """Run CI on every staging/try SHA the queue waits for, until nothing is left."""
        for _ in range(rounds):
            shas = [s for s in running_shas(self.runner.state(REPO)) if s not in self.ci_runs]
            if not shas:
                return
            for sha in shas:
                self.ci_runs.append(sha)
                ok = "broken" not in self.forge.commits[sha][1]
                if ok:
                    self.green.add(sha)
                self.forge.post_status(REPO, sha, CHECK, "success" if ok else "failure")
                self.clock.now += 60
                self.runner.feed(REPO, [CheckUpdate(sha, CHECK, "completed", "success" if ok else "failure")])
        raise AssertionError("CI never settled")

    def main_moves(self) -> list[str]:
        return [w[3] for w in self.forge.writes_of("fast_forward_branch") if w[2] == "main"]

    def comments(self, number: int) -> list[str]:
        return [c.body for c in self.forge.comments_on(REPO, number)]


def test_six_prs_one_broken_land_five_in_fewer_runs_and_only_tested_shas(store: Inbox) -> None:
    w = World(store)
    for n in range(1, 7):
        w.pr(n, broken=n == 4)
    for n in range(1, 7):
        w.merge(n)
    w.ci()
    state = w.runner.state(REPO)
    statuses = {p.number: p.status for p in state.pulls}
    assert statuses == {1: "merged", 2: "merged", 3: "merged", 4: "failed", 5: "merged", 6: "merged"}
    assert len(w.ci_runs) < 6
    tip = w.forge.branches[(REPO, "main")]
    assert all(f"pr{n}" in w.forge.commits[tip][1] for n in (1, 2, 3, 5, 6))
    assert "broken" not in w.forge.commits[tip][1]
    assert w.main_moves() and set(w.main_moves()) <= w.green  # the base only ever moved to green SHAs
    assert any("ci/tests" in body and "failure" in body for body in w.comments(4))
    assert all(body.startswith(QUEUE_MARKER) for body in w.comments(4))
    assert not any("Landed on main" in body for body in w.comments(1))  # the report says it, no extra comment
    assert state.pull(1).reason.startswith("Landed on main")
    # staging commits are built with merges into a temporary branch, which is removed afterwards
    assert w.forge.writes_of("merge_into_branch")
    assert not [b for (r, b) in w.forge.branches if b.startswith("mlgate/tmp/")]
    assert w.forge.branches[(REPO, "mlgate/staging/main")] in w.ci_runs


def test_a_push_to_a_queued_pr_during_a_batch_removes_it_and_the_rest_lands(store: Inbox) -> None:
    w = World(store)
    for n in (1, 2, 3):
        w.pr(n)
        w.merge(n)
    assert running_shas(w.runner.state(REPO)), "a batch is running"
    w.forge.add_commit("h2new" + "0" * 35, ("h2" + "0" * 30,), {"pr2b"})
    w.runner.feed(REPO, [HeadPushed(2, "h2new" + "0" * 35)])
    w.ci()
    statuses = {p.number: p.status for p in w.runner.state(REPO).pulls}
    assert statuses == {1: "merged", 2: "cancelled", 3: "merged"}
    assert any("new commits were pushed" in b for b in w.comments(2))
    assert "pr2" not in w.forge.commits[w.forge.branches[(REPO, "main")]][1]


def test_a_restart_mid_batch_resumes_from_the_stored_state(store: Inbox) -> None:
    w = World(store)
    for n in (1, 2):
        w.pr(n)
        w.merge(n)
    sha = next(iter(running_shas(w.runner.state(REPO))))
    w.forge.post_status(REPO, sha, CHECK, "success")  # CI finished while the bot was down
    w.runner = w.new_runner()  # a new process: nothing in memory
    w.ci_runs.append(sha)
    w.green.add(sha)
    w.runner.resume(REPO)  # re-reads the checks on the running build's SHA: it lands
    assert w.forge.branches[(REPO, "main")] == sha
    assert w.runner.state(REPO).pull(1).status == "merged"
    w.ci()
    statuses = {p.number: p.status for p in w.runner.state(REPO).pulls}
    assert statuses == {1: "merged", 2: "merged"}
    assert set(w.main_moves()) <= w.green


def test_a_refused_fast_forward_rebuilds_on_the_new_tip(store: Inbox) -> None:
    w = World(store)
    w.pr(1)
    w.merge(1)
    # someone pushes to main while the batch is tested
    w.forge.add_commit("outside" + "0" * 33, ("b0",), {"outside"})
    w.forge.set_branch(REPO, "main", "outside" + "0" * 33)
    w.ci()
    tip = w.forge.branches[(REPO, "main")]
    assert {"pr1", "outside"} <= w.forge.commits[tip][1]
    assert tip in w.green and len(w.ci_runs) == 2  # tested again on the new tip before landing
    assert w.runner.state(REPO).pull(1).status == "merged"


def test_a_conflicting_pr_fails_alone_with_a_comment(store: Inbox) -> None:
    w = World(store)
    w.forge.add_commit("b1" + "0" * 38, ("b0",), {"conflict:x"})
    w.forge.set_branch(REPO, "main", "b1" + "0" * 38)
    w.pr(1, conflict="x")
    w.pr(2)
    w.merge(1)
    w.merge(2)
    w.ci()
    statuses = {p.number: p.status for p in w.runner.state(REPO).pulls}
    assert statuses == {1: "failed", 2: "merged"}
    assert any("does not merge cleanly" in b for b in w.comments(1))


def test_try_builds_on_the_try_branch_and_lands_nothing(store: Inbox) -> None:
    w = World(store)
    head = w.pr(7)
    w.runner.feed(REPO, [TryRequested(7, "main", head, "alice")])
    assert (REPO, "mlgate/try/7") in w.forge.branches
    w.ci()
    assert w.forge.branches[(REPO, "main")] == "b0"
    assert not w.main_moves()
    assert any("ci/tests" in b and "success" in b for b in w.comments(7)[1:])


def test_a_check_that_never_starts_fails_the_batch_on_the_tick(store: Inbox) -> None:
    w = World(store)
    w.pr(1)
    w.merge(1)
    assert w.runner.tick() == 0  # nothing due yet
    w.clock.now += 16 * 60
    assert w.runner.tick() == 1
    pull = w.runner.state(REPO).pull(1)
    assert pull.status in ("failed", "testing")  # singled out: failed, or confirmed alone once more
    assert any("was not started within" in b for b in w.comments(1)) or pull.status == "testing"


def test_squash_closes_the_pr_and_lands_the_tested_commit(store: Inbox) -> None:
    w = World(store, QueueConfig(branches=("main",), required_checks=(CHECK,), method="squash", adaptive=False))
    w.pr(1)
    w.merge(1)
    w.ci()
    tip = w.forge.branches[(REPO, "main")]
    assert w.forge.commits[tip][0] == ("b0",)  # one squashed commit on top of the base
    assert tip in w.green
    assert (REPO, 1) in w.forge.closed


def test_merge_without_required_checks_is_refused_with_a_reason(store: Inbox) -> None:
    w = World(store, QueueConfig(branches=("main",), required_checks=()))
    w.pr(1)
    w.merge(1)
    assert any("no required checks" in b for b in w.comments(1))
    assert not w.forge.writes_of("force_branch")


def test_the_worker_calls_the_dispatchers_tick(store: Inbox) -> None:
    from mlgate.bot.intake.worker import Worker, WorkerConfig

    class Ticking:
        ticks = 0

        def handle(self, event: str, payload: dict, delivery_id: str) -> set:
            return set()

        def evaluate(self, repo: str, number: int) -> None:
            return None

        def resync(self, repo: str) -> set:
            return set()

        def tick(self) -> int:
            Ticking.ticks += 1
            return 0

    worker = Worker(store, Ticking(), WorkerConfig(threads=1, poll_interval_seconds=0.05))
    worker.start()
    try:
        assert wait_until(lambda: Ticking.ticks >= 2, timeout=5), "tick was not called every second"
    finally:
        worker.stop()


# ---------------------------------------------------------------------------------------------
# The store: optimistic versions, damaged documents, due wake-ups


def test_a_concurrent_save_loses_and_the_runner_re_reads(store: Inbox) -> None:
    qs = QueueStore(store.engine)
    empty = qs.load(REPO)
    assert empty.version == 0 and empty.state.pulls == ()
    from mlgate.bot.queue.model import QueueState

    assert qs.save(empty, QueueState(REPO, next_seq=2), wakeup_at=5.0, now=1.0, config_branch="trunk")
    assert not qs.save(empty, QueueState(REPO, next_seq=3), wakeup_at=None, now=2.0)  # stale version
    row = qs.load(REPO)
    assert (row.version, row.state.next_seq, row.config_branch, row.wakeup_at) == (1, 2, "trunk", 5.0)
    assert qs.save(row, QueueState(REPO, next_seq=4), wakeup_at=None, now=3.0)
    assert not qs.save(row, QueueState(REPO, next_seq=5), wakeup_at=None, now=4.0)
    assert qs.load(REPO).state.next_seq == 4 and qs.load(REPO).config_branch == "trunk"


def test_due_lists_only_repositories_whose_wakeup_has_come(store: Inbox) -> None:
    from mlgate.bot.queue.model import QueueState

    qs = QueueStore(store.engine)
    for repo, wakeup in (("a/one", 10.0), ("a/two", 50.0), ("a/three", None)):
        assert qs.save(qs.load(repo), QueueState(repo), wakeup_at=wakeup, now=0.0)
    assert qs.due(20.0) == ["a/one"]
    assert qs.due(60.0) == ["a/one", "a/two"]


def test_a_damaged_state_is_reported_with_the_repository(store: Inbox) -> None:
    import sqlalchemy as sa

    from mlgate.bot.queue.store import queue_state

    with store.engine.begin() as conn:
        conn.execute(queue_state.insert().values(repo=REPO, state='{"schema": "other"}', version=1, updated_at=0.0))
    with pytest.raises(ValueError, match=r"acme/ml.*schema"):
        QueueStore(store.engine).load(REPO)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(queue_state))


# ---------------------------------------------------------------------------------------------
# The handlers route GitHub events to the runner


def handlers_world(store: Inbox, required: str = f"[{CHECK}]") -> tuple[World, object]:
    from mlgate.bot.github.facts import Permission
    from mlgate.bot.intake.handlers import Handlers
    from mlgate.bot.pr.repo_config import CONFIG_PATH

    w = World(store)
    w.forge.put_file(REPO, "main", CONFIG_PATH, f"version: 1\nmerge:\n  required_checks: {required}\n")
    w.forge.permissions[(REPO, "alice")] = Permission.WRITE
    bot = Handlers(forges=lambda repo, installation=None: w.forge, bot_login="mlgate[bot]")
    bot.queue = QueueRunner(QueueStore(store.engine), bot._forge, bot.queue_config, clock=w.clock)
    w.runner = bot.queue
    return w, bot


def payload(**kw: object) -> dict:
    return {"repository": {"full_name": REPO, "default_branch": "main"}, **kw}


def comment(body: str, number: int, cid: int = 900, at: str = "2026-11-28T10:00:00Z") -> dict:
    return payload(action="created", issue={"number": number, "pull_request": {"url": "x"}},
                   comment={"id": cid, "body": body, "user": {"login": "alice", "type": "User"}, "created_at": at})


def opened(number: int, head: str, at: str = "2026-11-28T09:00:00Z", action: str = "opened") -> dict:
    """A pull_request event: the bot learns the head (and GitHub's time of it) a later /merge approves."""
    return payload(action=action, pull_request={"number": number, "head": {"sha": head}, "updated_at": at})


def test_handlers_turn_commands_statuses_and_pushes_into_queue_events(store: Inbox) -> None:
    from mlgate.bot.github.facts import CheckRun

    w, bot = handlers_world(store)
    for n in (1, 2, 3):
        head = w.pr(n)
        bot.handle("pull_request", opened(n, head), f"o{n}")
        w.forge.add_check(REPO, n, CheckRun(CHECK, "completed", "success", None, head, kind="status"))
    bot.handle("issue_comment", comment("/merge", 1), "d1")
    assert w.runner.state(REPO).pull(1).status == "testing"
    assert not w.forge.reactions  # answered in words by the queue's comment: no 👍 on top
    assert any(b.startswith(QUEUE_MARKER) and "queued for main" in b for b in w.comments(1))
    assert not any("not available" in b for b in w.comments(1))
    bot.handle("issue_comment", comment("/merge p=3", 2, 901), "d2")
    assert w.runner.state(REPO).pull(2).priority == 3  # and it preempts #1's build: both in one batch now
    # a pending then a green status on the staging SHA, delivered as webhooks
    sha = next(iter(running_shas(w.runner.state(REPO))))
    assert {"pr1", "pr2"} <= w.forge.commits[sha][1]
    bot.handle("status", payload(sha=sha, context=CHECK, state="pending"), "d3")
    bot.handle("status", payload(sha=sha, context=CHECK, state="success"), "d4")
    assert {p.number: p.status for p in w.runner.state(REPO).pulls} == {1: "merged", 2: "merged"}
    assert w.forge.branches[(REPO, "main")] == sha
    # a push to the PR that is being tested removes it
    bot.handle("issue_comment", comment("/merge", 3, 902), "d5")
    assert w.runner.state(REPO).pull(3).status == "testing"
    new_head = "n3" + "0" * 38
    w.forge.add_commit(new_head, ("b0",), {"pr3b"})
    w.forge.update_pull(REPO, 3, head_sha=new_head)
    bot.handle("pull_request", opened(3, new_head, "2026-11-28T10:05:00Z", "synchronize"), "d6")
    assert w.runner.state(REPO).pull(3).status == "cancelled"
    assert not running_shas(w.runner.state(REPO))
    # /retry and /cancel are answered by the queue, never "not available"
    bot.handle("issue_comment", comment("/retry", 3, 903, "2026-11-28T10:06:00Z"), "d7")
    pull = w.runner.state(REPO).pull(3)
    assert (pull.status, pull.head_sha) == ("waiting", new_head)  # CI has not reported on the new head yet
    assert any("ci/tests" in b for b in w.comments(3)[-1:])
    bot.handle("issue_comment", comment("/cancel", 3, 904), "d8")
    assert w.runner.state(REPO).pull(3).status == "cancelled"
    assert any("Removed from the merge queue by @\u200balice" in b for b in w.comments(3))  # no mention ping
    assert not any("not available" in b for n in (1, 2, 3) for b in w.comments(n))


def test_a_push_to_the_base_by_someone_else_rebuilds_the_batch(store: Inbox) -> None:
    from mlgate.bot.github.facts import CheckRun

    w, bot = handlers_world(store)
    head = w.pr(1)
    w.forge.add_check(REPO, 1, CheckRun(CHECK, "completed", "success", None, head, kind="status"))
    bot.handle("pull_request", opened(1, head), "o1")
    bot.handle("issue_comment", comment("/merge", 1), "d1")
    first = next(iter(running_shas(w.runner.state(REPO))))
    w.forge.add_commit("x1" + "0" * 38, ("b0",), {"outside"})
    w.forge.set_branch(REPO, "main", "x1" + "0" * 38)
    bot.handle("push", payload(ref="refs/heads/main", before="b0", after="x1" + "0" * 38), "d2")
    (second,) = running_shas(w.runner.state(REPO))
    assert second != first and "outside" in w.forge.commits[second][1]


def test_without_a_runner_queue_commands_still_answer_not_available(store: Inbox) -> None:
    from mlgate.bot.github.facts import Permission
    from mlgate.bot.intake.handlers import Handlers

    forge = FakeForge()
    forge.add_pull(REPO, 1)
    forge.permissions[(REPO, "alice")] = Permission.WRITE
    bot = Handlers(forges=lambda repo, installation=None: forge, bot_login="mlgate[bot]")
    bot.handle("issue_comment", comment("/merge", 1), "d")
    assert any("not available" in c.body for c in forge.comments_on(REPO, 1))


def test_the_resync_resumes_the_queue_after_missed_check_webhooks(store: Inbox) -> None:
    from mlgate.bot.github.facts import CheckRun

    w, bot = handlers_world(store)
    head = w.pr(1)
    w.forge.add_check(REPO, 1, CheckRun(CHECK, "completed", "success", None, head, kind="status"))
    bot.handle("pull_request", opened(1, head), "o1")
    bot.handle("issue_comment", comment("/merge", 1), "d1")
    (sha,) = running_shas(w.runner.state(REPO))
    w.forge.post_status(REPO, sha, CHECK, "success")  # its webhook never arrives
    assert w.runner.state(REPO).pull(1).status == "testing"
    bot.resync(REPO)
    assert w.runner.state(REPO).pull(1).status == "merged"
    assert w.forge.branches[(REPO, "main")] == sha


def test_a_pinned_required_check_counts_only_from_its_app_on_staging(store: Inbox) -> None:
    from mlgate.bot.github.facts import CheckRun

    w, bot = handlers_world(store, required=f"[{{name: {CHECK}, app: github-actions}}]")
    head = w.pr(1)
    w.forge.add_check(REPO, 1, CheckRun(CHECK, "completed", "success", "github-actions", head))
    bot.handle("pull_request", opened(1, head), "o1")
    bot.handle("issue_comment", comment("/merge", 1), "d1")
    (sha,) = running_shas(w.runner.state(REPO))
    # a commit status with the same name (anyone with write can post one) does not count
    bot.handle("status", payload(sha=sha, context=CHECK, state="success"), "d2")
    run = {"name": CHECK, "head_sha": sha, "status": "completed", "conclusion": "success", "app": {"slug": "evil"}}
    bot.handle("check_run", payload(action="completed", check_run=run), "d3")
    assert w.runner.state(REPO).pull(1).status == "testing"
    run["app"] = {"slug": "github-actions"}
    bot.handle("check_run", payload(action="completed", check_run=run), "d4")
    assert w.runner.state(REPO).pull(1).status == "merged"


def test_on_landed_is_told_once_per_landed_sha_and_its_errors_do_not_undo_the_landing(store: Inbox) -> None:
    w = World(store)
    seen: list[tuple[str, str, tuple[int, ...], str]] = []

    def on_landed(repo: str, sha: str, numbers: tuple[int, ...], branch: str) -> None:
        seen.append((repo, sha, numbers, branch))
        raise RuntimeError("deployment service down")

    w.runner.on_landed = on_landed
    for n in (1, 2):
        w.pr(n)
    w.runner.feed(REPO, [MergeRequested(n, "main", w.forge.pulls[(REPO, n)].head_sha, "alice", gates="success")
                         for n in (1, 2)])
    w.ci()
    tip = w.forge.branches[(REPO, "main")]
    assert [numbers for _, _, numbers, _ in seen] == [(1,), (2,)]  # no batch delay: #1 went alone
    assert seen[-1] == (REPO, tip, (2,), "main") and set(w.main_moves()) == {sha for _, sha, _, _ in seen}
    assert {p.status for p in w.runner.state(REPO).pulls} == {"merged"}


def test_rebase_replays_each_pr_commit_on_top_of_the_base(store: Inbox) -> None:
    w = World(store, QueueConfig(branches=("main",), required_checks=(CHECK,), method="rebase", adaptive=False))
    w.forge.add_commit("c1" + "0" * 38, ("b0",), {"step1"})
    head = w.forge.add_commit("c2" + "0" * 38, ("c1" + "0" * 38,), {"step2"})
    w.forge.add_pull(REPO, 1, head_sha=head)
    w.merge(1)
    w.ci()
    tip = w.forge.branches[(REPO, "main")]
    parent = w.forge.commits[tip][0]
    assert tip in w.green and len(parent) == 1 and w.forge.commits[parent[0]][0] == ("b0",)  # two linear commits
    assert {"step1", "step2"} <= w.forge.commits[tip][1]
    assert (REPO, 1) in w.forge.closed


# ---------------------------------------------------------------------------------------------
# What a command approves: the head as of the comment (bot/commands/approval.py), never a fork


def replies(w: World, number: int) -> list[str]:
    return [c.body for c in w.forge.comments_on(REPO, number) if "mlgate-reply:" in c.body]


def push(w: World, number: int, head: str) -> None:
    """A new commit on the PR's branch, on GitHub (its webhook is delivered when the test says)."""
    w.forge.add_commit(head, ("b0",), {f"pr{number}-more"})
    w.forge.update_pull(REPO, number, head_sha=head)


def green(w: World, number: int) -> None:
    from mlgate.bot.github.facts import CheckRun

    facts = w.forge.pulls[(REPO, number)]
    w.forge.add_check(REPO, number, CheckRun(CHECK, "completed", "success", None, facts.head_sha, kind="status"))


def test_a_push_after_the_merge_comment_voids_it_though_the_bot_reads_the_new_head(store: Inbox) -> None:
    """A busy worker: the comment is processed after the push, whose webhook is still queued."""
    w, bot = handlers_world(store)
    head = w.pr(1)
    bot.handle("pull_request", opened(1, head), "o1")
    newer = "e1" + "0" * 38
    push(w, 1, newer)
    green(w, 1)
    bot.handle("issue_comment", comment("/merge", 1, 900, "2026-11-28T10:00:00Z"), "d1")
    assert w.runner.state(REPO).pull(1) is None  # nothing queued, nothing built
    (reply,) = replies(w, 1)
    assert f"the head of this PR was {head[:7]}; it is now {newer[:7]}" in reply and f"`/merge {newer[:7]}`" in reply
    assert (REPO, 900, "confused") in w.forge.reactions
    bot.handle("pull_request", opened(1, newer, "2026-11-28T10:00:01Z", "synchronize"), "d2")
    bot.handle("issue_comment", comment(f"/merge {newer[:7]}", 1, 901, "2026-11-28T10:00:30Z"), "d3")
    pull = w.runner.state(REPO).pull(1)
    assert (pull.status, pull.head_sha) == ("testing", newer)


def test_a_push_in_the_comments_second_delivered_first_still_voids_it(store: Inbox) -> None:
    """Redelivery after an outage: the push's webhook is handled before the comment's."""
    w, bot = handlers_world(store)
    head = w.pr(1)
    bot.handle("pull_request", opened(1, head), "o1")
    newer = "e1" + "0" * 38
    push(w, 1, newer)
    green(w, 1)
    bot.handle("pull_request", opened(1, newer, "2026-11-28T10:00:00Z", "synchronize"), "d1")
    bot.handle("issue_comment", comment("/merge", 1, 900, "2026-11-28T10:00:00Z"), "d2")
    assert w.runner.state(REPO).pull(1) is None and "it is now" in replies(w, 1)[0]
    # a push well before the comment is what the comment approves
    bot.handle("issue_comment", comment("/merge", 1, 901, "2026-11-28T10:00:02Z"), "d3")
    assert w.runner.state(REPO).pull(1).head_sha == newer


def test_try_and_retry_approve_the_head_as_of_the_comment_too(store: Inbox) -> None:
    w, bot = handlers_world(store)
    head = w.pr(1)
    bot.handle("pull_request", opened(1, head), "o1")
    push(w, 1, "n1" + "0" * 38)
    bot.handle("issue_comment", comment("/try", 1, 900), "d1")
    bot.handle("issue_comment", comment("/retry", 1, 901), "d2")
    assert not running_shas(w.runner.state(REPO)) and w.runner.state(REPO).pull(1) is None
    assert ["`/try`: when you commented" in r for r in replies(w, 1)] == [True, False]
    assert "`/retry`: when you commented" in replies(w, 1)[1]


def test_a_pr_the_bot_never_saw_needs_an_explicit_sha(store: Inbox) -> None:
    w, bot = handlers_world(store)
    w.pr(1)
    head = "ab" * 20
    push(w, 1, head)
    green(w, 1)
    bot.handle("issue_comment", comment("/merge", 1, 900), "d1")
    assert w.runner.state(REPO).pull(1) is None
    assert "I had not seen this PR's head from before your comment" in replies(w, 1)[0]
    bot.handle("issue_comment", comment(f"bors r+ {head[:10]}", 1, 901), "d2")
    assert w.runner.state(REPO).pull(1).status == "testing"


def test_the_heads_seen_survive_a_restart(store: Inbox) -> None:
    from mlgate.bot.commands.heads import SqlHeadLog
    from mlgate.bot.intake.handlers import Handlers

    w, bot = handlers_world(store)
    bot.heads = SqlHeadLog(store.engine)
    head = w.pr(1)
    green(w, 1)
    bot.handle("pull_request", opened(1, head), "o1")
    again = Handlers(forges=lambda repo, installation=None: w.forge, bot_login="mlgate[bot]",
                     heads=SqlHeadLog(store.engine))  # a new process: only the database survives
    again.queue = QueueRunner(QueueStore(store.engine), again._forge, again.queue_config, clock=w.clock)
    again.handle("issue_comment", comment("/merge", 1), "d1")
    assert again.queue.state(REPO).pull(1).status == "testing"


@pytest.mark.parametrize("command", ["/merge", "/try", "/retry"])
def test_a_pr_from_a_fork_is_not_built_into_the_base_repository(store: Inbox, command: str) -> None:
    from mlgate.bot.pr.repo_config import CONFIG_PATH

    w, bot = handlers_world(store)
    head = w.pr(1)
    w.forge.update_pull(REPO, 1, head_repo="mallory/ml")
    green(w, 1)
    bot.handle("pull_request", opened(1, head), "o1")
    bot.handle("issue_comment", comment(command, 1, 900), "d1")
    assert not running_shas(w.runner.state(REPO)) and w.runner.state(REPO).pull(1) is None
    (reply,) = replies(w, 1)
    assert "refused: this PR comes from the fork mallory/ml" in reply
    assert ("unless `merge.allow_forks: true`, because staging branches in the base repository run `on: push` "
            "workflows with the base repository's secrets") in reply
    config = w.forge.files[(REPO, "main", CONFIG_PATH)]
    w.forge.put_file(REPO, "main", CONFIG_PATH, config + "  allow_forks: true\n")
    bot.handle("issue_comment", comment(command, 1, 901), "d2")
    assert len(replies(w, 1)) == 1  # accepted: the queue answers (it builds, or says there is nothing to retry)
    assert (REPO, 901, "confused") not in w.forge.reactions
    assert any(b.startswith(QUEUE_MARKER) for b in w.comments(1))


def test_the_bot_sets_its_mlgate_check_on_the_staging_commit_before_the_fast_forward(store: Inbox) -> None:
    """Branch protection requiring `mlgate` judges the SHA pushed: the check must be there first."""
    w = World(store)
    w.pr(1)
    w.merge(1)
    w.ci()
    tip = w.forge.branches[(REPO, "main")]
    kinds = [x[0] for x in w.forge.writes if x[0] in ("set_check", "fast_forward_branch")]
    assert kinds == ["set_check", "fast_forward_branch"]
    run = w.forge.check_runs[(REPO, tip, "mlgate")]
    assert run.status == "completed" and run.conclusion == "success" and "#1" in w.forge.check_details[run.id]["title"]


def test_a_refusal_while_the_base_did_not_move_is_not_rebuilt_forever(store: Inbox) -> None:
    """GitHub refusing for another reason (a protection rule the bot cannot satisfy) must not start a
    loop of rebuilds and CI runs: the build stays landing and the fast-forward is asked again later."""
    w = World(store)
    w.pr(1)
    w.merge(1)
    w.forge.refuse_fast_forward = 1
    w.ci()
    state = w.runner.state(REPO)
    assert state.lanes[0].build is not None and state.lanes[0].build.state == "landing"
    assert len(w.ci_runs) == 1 and not w.main_moves()[1:]
    w.clock.now += w.config.start_timeout_minutes * 60
    w.runner.tick()
    assert {p.number: p.status for p in w.runner.state(REPO).pulls} == {1: "merged"}
    assert len(w.ci_runs) == 1  # landed on the same tested SHA, no second run


def test_an_abandoned_build_cancels_the_actions_runs_on_its_sha(store: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    w = World(store)
    for n in (1, 2):
        w.pr(n)
        w.merge(n)
    (sha,) = running_shas(w.runner.state(REPO))
    runs = [w.forge.start_workflow_run(REPO, sha), w.forge.start_workflow_run(REPO, sha)]
    other = w.forge.start_workflow_run(REPO, "f" * 40)
    w.forge.workflow_runs[runs[1]] = (REPO, sha, "completed")  # finished already: nothing to cancel
    caplog.set_level("INFO", logger="mlgate.bot.queue.runner")
    w.forge.add_commit("h1new" + "0" * 35, ("h1" + "0" * 30,), {"pr1b"})
    w.runner.feed(REPO, [HeadPushed(1, "h1new" + "0" * 35)])  # #1 leaves: its build is abandoned
    assert w.forge.writes_of("cancel_workflow_run") == [("cancel_workflow_run", REPO, runs[0])]
    assert w.forge.workflow_runs[other][2] == "in_progress"
    assert any("cancelled 1 Actions run(s)" in r.getMessage() and sha[:12] in r.getMessage() for r in caplog.records)


def test_speculative_builds_stack_and_a_failure_rebuilds_the_next_without_it(store: Inbox) -> None:
    """merge.parallel 3 with one PR per build: #1 on main, #2 on #1's commit, #3 on #2's, each on its own
    ref; #2 is broken, so #3's build (which contains it) is abandoned and rebuilt on #1's landed commit."""
    w = World(store, QueueConfig(branches=("main",), required_checks=(CHECK,), batch_size=1, adaptive=False,
                                 parallel=3, confirm_threshold=2))
    for n in (1, 2, 3):
        w.pr(n, broken=n == 2)
        w.merge(n)
    lane = w.runner.state(REPO).lanes[0]
    assert [b.numbers for b in lane.chain] == [(1,), (2,), (3,)]
    assert [b.branch for b in lane.chain] == ["mlgate/staging/main", "mlgate/staging/main@2", "mlgate/staging/main@3"]
    assert [b.base_sha for b in lane.chain[1:]] == [b.sha for b in lane.chain[:-1]]
    w.ci()
    assert {p.number: p.status for p in w.runner.state(REPO).pulls} == {1: "merged", 2: "failed", 3: "merged"}
    assert w.main_moves() and set(w.main_moves()) <= w.green
    tip = w.forge.branches[(REPO, "main")]
    assert {"pr1", "pr3"} <= w.forge.commits[tip][1] and "broken" not in w.forge.commits[tip][1]
