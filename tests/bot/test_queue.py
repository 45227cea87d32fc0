"""The merge queue's state machine, one event at a time (bot/queue/transitions.py): pure, no GitHub."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mlgate.bot import queue as q
from mlgate.bot.queue.messages import status_text
from mlgate.bot.queue.status import pull_status
from mlgate.checks.config.models import parse_config

REPO = "acme/models"
BASE_CONFIG = "sha256:" + "c0" * 32  # the hash of the base branch's .github/mlgate.yml
CFG = q.QueueConfig(branches=("main",), batch_size=8, required_checks=("tests", "mlgate/bias"),
                    timeout_minutes=60, start_timeout_minutes=10, config_sha256=BASE_CONFIG)
NEVER_CONFIRM = replace(CFG, confirm_threshold=2.0)


def head(n: int, v: int = 0) -> str:
    return f"{n:04d}{v:02d}".ljust(40, "a")


class Q:
    """A harness: the state, the clock, every action so far; each call applies one event."""

    def __init__(self, cfg: q.QueueConfig = CFG, state: q.QueueState | None = None) -> None:
        self.cfg = cfg
        self.state = state or q.QueueState(REPO)
        self.now = 1_000_000.0
        self.log: list[object] = []
        self.shas = 0

    def __call__(self, event: object, at: float | None = None) -> tuple[object, ...]:
        if at is not None:
            self.now = at
        self.state, actions = q.step(self.state, event, self.now, self.cfg)  # type: ignore[arg-type]
        self.log += actions
        return actions

    def later(self, seconds: float, event: object = q.Tick()) -> tuple[object, ...]:
        return self(event, self.now + seconds)

    def merge(self, n: int, gates: str = "success", priority: int | None = None, **kw: object) -> tuple[object, ...]:
        return self(q.MergeRequested(n, kw.pop("base", "main"), head(n), "alice", priority, gates, **kw))

    @property
    def build(self) -> q.Build | None:
        lane = self.state.lane("main")
        return lane.build if lane else None

    def created(self, base_sha: str = "b" * 40) -> str:
        """The executor built the running build's commit."""
        build = self.build
        assert build is not None and build.state == q.CREATING
        self.shas += 1
        sha = f"{self.shas:040x}"
        self(q.StagingCreated(build.id, sha, base_sha))
        return sha

    def checks(self, sha: str, tests: str = "success", bias: str = "success") -> tuple[object, ...]:
        out = self(q.CheckUpdate(sha, "tests", "completed", tests, f"https://ci/{sha[:6]}/tests"))
        return out + self(gate(sha, "mlgate/bias", bias))

    def run(self, green: bool) -> tuple[object, ...]:
        """Create the running build's commit and report it all green or red; fast-forward if asked."""
        sha = self.created(self.state.lane("main").base_sha or "b" * 40)
        out = self.checks(sha, "success" if green else "failure")
        for a in out:
            if isinstance(a, q.FastForward):
                out += self(q.FastForwardDone(a.build_id, a.to_sha))
        return out

    def status(self, n: int) -> str:
        pull = self.state.pull(n)
        return pull.status if pull else "unknown"


def gate(sha: str, name: str, conclusion: str = "success", config: str | None = BASE_CONFIG,
         app: str | None = "github-actions", **kw: object) -> q.CheckUpdate:
    """A gate's check run on `sha`, its results JSON computed with `config` (the base's by default)."""
    verdict = "pass" if conclusion == "success" else "fail"
    return q.CheckUpdate(sha, name, "completed", conclusion, app=app, results=q.Results(verdict, config), **kw)


def of(actions: tuple[object, ...] | list[object], kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]


def comments(actions: tuple[object, ...] | list[object], n: int) -> str:
    return "\n".join(a.body for a in of(actions, q.Comment) if a.number == n)


# ---------------------------------------------------------------------------------------------
# Entering the queue


def test_merge_of_a_ready_pr_queues_it_and_starts_a_staging_build() -> None:
    h = Q()
    out = h.merge(1)
    assert "queued for main at position 1" in comments(out, 1)
    [create] = of(out, q.CreateStaging)
    assert create == q.CreateStaging(REPO, "main", None, "mlgate/staging/main", create.build_id,
                                     (q.StagedPull(1, head(1)),), "merge", "batch")
    assert h.status(1) == q.TESTING


def test_merge_with_pending_gates_waits_and_says_for_what_then_queues_when_they_pass() -> None:
    h = Q()
    out = h.merge(1, gates="pending", reasons=("review: 1 approval from @ml-owners",))
    assert h.status(1) == q.WAITING and not of(out, q.CreateStaging)
    text = comments(out, 1)
    assert "not queued yet" in text and "waiting for review" in text and "@\u200bml" in text  # escaped mention
    assert not of(h(q.PullGates(1, head(1), "pending", ("review: 1 approval from @ml-owners",))), q.Comment)
    out = h(q.PullGates(1, head(1), "success"))
    assert h.status(1) == q.TESTING and of(out, q.CreateStaging)


def test_merge_with_failing_gates_names_them_and_gates_for_an_old_head_are_ignored() -> None:
    h = Q()
    out = h.merge(1, gates="failure", reasons=("mlgate/bias: FNR gap 0.12 > 0.05",))
    assert "blocked: mlgate/bias" in comments(out, 1) and h.status(1) == q.WAITING
    h(q.PullGates(1, head(1, 9), "success"))
    assert h.status(1) == q.WAITING


def test_merge_is_refused_for_an_unconfigured_base_or_without_required_checks() -> None:
    h = Q()
    out = h.merge(1, base="dev")
    assert "dev is not in `merge.branches`" in comments(out, 1) and h.state.pull(1) is None
    h = Q(replace(CFG, required_checks=()))
    out = h.merge(1)
    assert "no required checks" in comments(out, 1) and not of(out, q.CreateStaging)


def test_from_mlgate_requires_the_ci_checks_and_every_configured_gate_but_not_the_summary() -> None:
    cfg = parse_config("""
bias: {sensitive: [colour]}
merge:
  method: squash
  batch_size: 3
  required_checks: [tests, {name: lint, app: github-actions}, mlgate, mlgate/bias]
""")
    qc = q.QueueConfig.from_mlgate(cfg)
    assert qc.required_checks == ("tests", "lint", "mlgate/bias")
    assert (qc.method, qc.batch_size, qc.branches) == ("squash", 3, ("main",))
    with pytest.raises(ValueError, match=r"merge\.method"):
        q.QueueConfig(method="octopus")


# ---------------------------------------------------------------------------------------------
# Batches


def test_ready_prs_are_batched_by_priority_then_order_and_single_prs_go_alone() -> None:
    h = Q(replace(CFG, batch_delay_seconds=30))
    h(q.SingleChanged(4, True))
    for n in (1, 2, 3, 4):
        assert not of(h.merge(n, priority=2 if n == 3 else None), q.CreateStaging)
    out = h.later(30)
    [create] = of(out, q.CreateStaging)
    assert [p.number for p in create.pulls] == [3, 1, 2]
    [create] = of(h.run(True), q.CreateStaging)  # the single PR follows, alone
    assert [p.number for p in create.pulls] == [4]


def test_batch_size_is_a_ceiling() -> None:
    h = Q(replace(CFG, batch_size=2, batch_delay_seconds=5))
    assert not of(h.merge(1), q.CreateStaging)
    [create] = of(h.merge(2), q.CreateStaging)  # a full batch does not wait for the delay
    assert [p.number for p in create.pulls] == [1, 2]
    h.merge(3)
    assert h.build.numbers == (1, 2)


def test_only_green_on_every_required_check_of_the_exact_sha_fast_forwards() -> None:
    h = Q()
    h.merge(1)
    sha = h.created("c" * 40)
    assert not of(h(q.CheckUpdate("f" * 40, "tests", "completed", "success")), q.FastForward)  # another SHA
    assert not of(h(q.CheckUpdate(sha, "docs", "completed", "failure")), q.FastForward)  # not required
    assert not of(h(q.CheckUpdate(sha, "tests", "completed", "success")), q.FastForward)  # one still missing
    assert not of(h(q.CheckUpdate(sha, "mlgate/bias", "in_progress", app="github-actions")), q.FastForward)
    out = h(gate(sha, "mlgate/bias"))
    ff = q.FastForward(REPO, "main", "c" * 40, sha, h.build.id, (1,), h.cfg.required_checks)
    assert of(out, q.FastForward) == [ff]
    assert h.status(1) == q.TESTING  # nothing is reported landed before the base moved


def test_a_status_never_stands_in_for_a_check_run_still_in_progress_on_staging() -> None:
    h = Q()
    h.merge(1)
    sha = h.created()
    h(gate(sha, "mlgate/bias"))
    h(q.CheckUpdate(sha, "tests", "in_progress", app="ci", report_id=7))
    assert not of(h(q.CheckUpdate(sha, "tests", "completed", "success", kind="status", report_id=8)), q.FastForward)
    assert h.state.pull(1).status == "testing"
    out = h(q.CheckUpdate(sha, "tests", "completed", "success", app="ci", report_id=7))
    assert of(out, q.FastForward)  # every report of `tests` passed: the run and the status


def test_a_required_check_passes_only_when_every_app_and_status_reporting_it_passed_on_staging() -> None:
    h = Q(NEVER_CONFIRM)
    h.merge(1)
    sha = h.created()
    h(gate(sha, "mlgate/bias"))
    h(q.CheckUpdate(sha, "tests", "completed", "failure", app="ci", report_id=3))
    h.log.clear()
    # a later green run from another app (or a status) does not replace the red one
    h(q.CheckUpdate(sha, "tests", "completed", "success", app="other-app", report_id=9))
    h(q.CheckUpdate(sha, "tests", "completed", "success", kind="status", report_id=10))
    assert not of(h.log, q.FastForward) and h.state.pull(1).status == "failed"


@pytest.mark.parametrize("conclusion", ["skipped", "neutral"])
def test_a_skipped_or_neutral_gate_judged_nothing_and_fails_a_staging_build(conclusion: str) -> None:
    h = Q(NEVER_CONFIRM)
    h.merge(1)
    sha = h.created()
    h(q.CheckUpdate(sha, "tests", "completed", "success"))
    out = h(gate(sha, "mlgate/bias", conclusion))
    assert not of(out, q.FastForward) and h.status(1) == "failed"
    assert f"mlgate/bias: {conclusion}: the gate judged nothing" in " ".join(c.body for c in of(out, q.Comment))


@pytest.mark.parametrize("conclusion", ["skipped", "neutral"])
def test_a_skipped_or_neutral_ci_check_passes_on_staging_as_on_a_pr_head(conclusion: str) -> None:
    h = Q()
    h.merge(1)
    sha = h.created()
    h(gate(sha, "mlgate/bias"))
    assert of(h(q.CheckUpdate(sha, "tests", "completed", conclusion)), q.FastForward)


@pytest.mark.parametrize(("config", "reason"), [
    ("sha256:" + "ee" * 32, "computed with another config"),
    (None, "carries no config hash"),
])
def test_a_gate_result_not_computed_with_the_base_config_fails_a_staging_build(config: str | None,
                                                                                reason: str) -> None:
    h = Q(NEVER_CONFIRM)
    h.merge(1)
    sha = h.created()
    h(q.CheckUpdate(sha, "tests", "completed", "success"))
    out = h(gate(sha, "mlgate/bias", config=config))
    assert not of(out, q.FastForward) and h.status(1) == "failed"
    assert reason in h.state.pull(1).reason


def test_from_mlgate_pins_gates_to_the_gate_app_and_keeps_the_config_hash() -> None:
    cfg = parse_config("bias: {sensitive: [colour]}\nmerge: {required_checks: [tests, {name: lint, app: ci}]}")
    qc = q.QueueConfig.from_mlgate(cfg, config_sha256=BASE_CONFIG)
    assert dict(qc.pins) == {"lint": "ci", "mlgate/bias": "github-actions"} and qc.config_sha256 == BASE_CONFIG
    h = Q(replace(qc, start_timeout_minutes=10))
    h.merge(1)
    sha = h.created()
    h(q.CheckUpdate(sha, "tests", "completed", "success"))
    h(q.CheckUpdate(sha, "lint", "completed", "success", app="ci"))
    assert not of(h(gate(sha, "mlgate/bias", app="evil-app")), q.FastForward)  # not the pinned app: missing
    assert not of(h(q.CheckUpdate(sha, "lint", "completed", "success", kind="status")), q.FastForward)
    assert of(h(gate(sha, "mlgate/bias")), q.FastForward)


def test_a_staging_build_failed_for_a_missing_gate_says_which_app_was_ignored() -> None:
    h = Q(replace(CFG, pins=(("mlgate/bias", "github-actions"),), confirm_threshold=2.0))
    h.merge(1)
    sha = h.created()
    h(q.CheckUpdate(sha, "tests", "completed", "success"))
    h(gate(sha, "mlgate/bias", app="evil-app"))
    out = h.later(11 * 60)
    assert h.status(1) == "failed"
    text = " ".join(c.body for c in of(out, q.Comment))
    assert "mlgate/bias was not started within 10 minutes" in text
    assert "reported by the app evil-app, but only the app github-actions may report mlgate/bias; ignored" in text


def test_fast_forward_done_lands_every_pr_with_the_landed_sha() -> None:
    h = Q(replace(CFG, delete_branches=True, batch_delay_seconds=1))
    h.merge(1), h.merge(2)
    h.later(1)
    out = h.run(True)
    landed = of(out, q.FastForward)[0].to_sha
    assert of(out, q.MergePull) == [q.MergePull(REPO, 1, head(1), landed, "merge"),
                                    q.MergePull(REPO, 2, head(2), landed, "merge")]
    assert of(out, q.DeleteBranch) == []  # GitHub has not marked them merged yet: deleting now would close them
    # landing is said in each PR's report comment (its queue block), not in a comment of its own
    assert not comments(out, 1) and not comments(out, 2)
    assert f"Landed on main in {landed}" in status_text(pull_status(h.state, 1))
    assert "in a batch with" in status_text(pull_status(h.state, 2))
    assert [d.outcome for d in of(out, q.Dequeue)] == ["merged", "merged"]
    assert h.state.pull(1).landed_sha == landed and h.state.lane("main").base_sha == landed
    # GitHub's `closed` (merged) event: now the head branch goes; a PR closed unmerged keeps it
    assert of(h(q.PullClosed(1, merged=True)), q.DeleteBranch) == [q.DeleteBranch(REPO, 1, head(1))]
    assert of(h(q.PullClosed(2, merged=False)), q.DeleteBranch) == []


def test_squash_and_rebase_build_the_staging_commit_from_rewritten_commits_and_land_that_sha() -> None:
    for method in ("squash", "rebase"):
        h = Q(replace(CFG, method=method))
        [create] = of(h.merge(1), q.CreateStaging)
        assert create.method == method
        out = h.run(True)
        [ff] = of(out, q.FastForward)
        [merge] = of(out, q.MergePull)
        assert merge.method == method and merge.landed_sha == ff.to_sha


def test_fast_forward_refused_means_base_moved_and_the_same_batch_is_rebuilt_on_the_new_tip() -> None:
    h = Q(replace(CFG, batch_delay_seconds=1))
    h.merge(1), h.merge(2)
    h.later(1)
    sha = h.created()
    [ff] = of(h.checks(sha), q.FastForward)
    out = h(q.FastForwardRefused(ff.build_id, "not a fast-forward", "d" * 40))
    [create] = of(out, q.CreateStaging)
    assert create.base_sha == "d" * 40 and [p.number for p in create.pulls] == [1, 2]
    assert create.build_id != ff.build_id and not of(out, q.MergePull)
    assert not of(h(q.FastForwardDone(ff.build_id, sha)), q.MergePull)  # a stale confirmation changes nothing
    sha2 = h.created("d" * 40)
    [ff2] = of(h.checks(sha2), q.FastForward)
    assert (ff2.from_sha, ff2.to_sha) == ("d" * 40, sha2)


# ---------------------------------------------------------------------------------------------
# Failures and bisection


def four_red(cfg: q.QueueConfig = NEVER_CONFIRM) -> Q:
    h = Q(replace(cfg, batch_delay_seconds=1))
    for n in (1, 2, 3, 4):
        h.merge(n)
    h.later(1)
    out = h.run(False)
    [create] = of(out, q.CreateStaging)
    assert [p.number for p in create.pulls] == [1, 2]  # only the first half is tested
    return h


def test_a_red_batch_tests_one_half_and_lands_it_when_green() -> None:
    h = four_red()
    out = h.run(True)
    assert [m.number for m in of(out, q.MergePull)] == [1, 2]
    [create] = of(out, q.CreateStaging)
    assert [p.number for p in create.pulls] == [3]  # 3 and 4 hold the broken PR: test half of it


def test_the_other_half_is_inferred_bad_without_a_run_of_its_own() -> None:
    h = four_red()
    h.run(True)  # 1, 2 land
    out = h.run(True)  # 3 lands: 4 must be the broken one
    assert [m.number for m in of(out, q.MergePull)] == [3]
    assert h.status(4) == q.FAILED and not of(out, q.CreateStaging)
    text = comments(out, 4)
    assert "tests: failure" in text and "singled out by bisection" in text and "#1, #2, #3" in text
    assert "https\u200b://ci/" in text and "/retry" in text  # md(): the URL is shown, not autolinked
    assert h.state.pull(4).failed_checks == ("tests: failure",)


def test_a_pr_failing_alone_leaves_the_queue_naming_the_failed_check() -> None:
    h = four_red()
    h.run(True)
    out = h.run(False)  # 3 alone is red
    assert h.status(3) == q.FAILED and "failed when tested alone" in comments(out, 3)
    assert [d.outcome for d in of(out, q.Dequeue)] == ["failed"]
    [create] = of(out, q.CreateStaging)
    assert [p.number for p in create.pulls] == [4]  # 4 was not judged: it goes back and is tested


def test_red_first_half_sends_the_other_half_back_unjudged() -> None:
    h = four_red()
    out = h.run(False)  # 1, 2 red: 3, 4 return to the pool
    [create] = of(out, q.CreateStaging)
    assert [p.number for p in create.pulls] == [1]
    assert h.state.lane("main").suspects == (1, 2)
    assert h.status(3) == q.QUEUED


def test_a_singled_out_pr_is_confirmed_alone_once_and_lands_if_it_was_a_flake() -> None:
    h = four_red(CFG)  # default: the lane's first culprit is re-run alone
    h.run(True)  # 1, 2 land
    out = h.run(True)  # 3 lands; 4 is singled out but not rejected yet
    [create] = of(out, q.CreateStaging)
    assert [p.number for p in create.pulls] == [4] and h.build.confirm and h.status(4) == q.TESTING
    out = h.run(True)  # it was a flake
    assert [m.number for m in of(out, q.MergePull)] == [4]
    lane = h.state.lane("main")
    assert (lane.confirmations, lane.flakes) == (1, 1)


def test_a_confirmed_culprit_is_rejected_after_its_second_red_run() -> None:
    h = four_red(CFG)
    h.run(True), h.run(True)
    out = h.run(False)
    assert h.status(4) == q.FAILED and "again when re-run alone" in comments(out, 4)
    lane = h.state.lane("main")
    assert (lane.confirmations, lane.flakes, lane.recent[-1]) == (1, 0, 1)


def test_a_required_check_that_never_starts_fails_the_batch_naming_it() -> None:
    h = Q(NEVER_CONFIRM)
    h.merge(1)
    sha = h.created()
    h(q.CheckUpdate(sha, "tests", "completed", "success"))
    assert not of(h.later(9 * 60), q.Dequeue)
    out = h.later(60)
    assert h.status(1) == q.FAILED
    assert "mlgate/bias was not started within 10 minutes" in comments(out, 1)


def test_a_check_still_running_after_the_timeout_fails_the_batch() -> None:
    h = Q(NEVER_CONFIRM)
    h.merge(1)
    sha = h.created()
    h(q.CheckUpdate(sha, "tests", "completed", "success"))
    h(q.CheckUpdate(sha, "mlgate/bias", "in_progress"))
    assert q.next_wakeup(h.state, h.cfg) == h.now + 10 * 60
    assert not of(h.later(59 * 60), q.Dequeue)
    out = h.later(60)
    assert "mlgate/bias did not finish within 60 minutes" in comments(out, 1)


def test_a_lost_create_or_fast_forward_is_asked_again_after_the_start_timeout() -> None:
    h = Q()
    [create] = of(h.merge(1), q.CreateStaging)
    assert of(h.later(10 * 60), q.CreateStaging) == [create]


# ---------------------------------------------------------------------------------------------
# Leaving the queue


def test_a_push_to_a_pr_in_the_running_build_removes_it_and_rebuilds_the_others() -> None:
    h = Q(replace(CFG, batch_delay_seconds=1))
    h.merge(1), h.merge(2)
    h.later(1)
    sha = h.created()
    out = h(q.HeadPushed(2, head(2, 1)))
    assert of(out, q.CancelBuild)[0].sha == sha
    assert h.status(2) == q.CANCELLED and "new commits were pushed" in comments(out, 2)
    [create] = of(out, q.CreateStaging)
    assert create.pulls == (q.StagedPull(1, head(1)),)
    assert not of(h(q.HeadPushed(1, head(1))), q.Dequeue)  # the same head: nothing happens


def test_a_push_during_the_fast_forward_does_not_report_the_new_commits_as_landed() -> None:
    h = Q()
    h.merge(1)
    sha = h.created()
    [ff] = of(h.checks(sha), q.FastForward)
    h(q.HeadPushed(1, head(1, 1)))
    out = h(q.FastForwardDone(ff.build_id, sha))
    assert not of(out, q.MergePull) and "commits pushed after it did not" in comments(out, 1)
    assert h.status(1) == q.CANCELLED


def test_closing_a_pr_removes_it_whether_waiting_or_queued() -> None:
    h = Q()
    h.merge(1, gates="pending")
    out = h(q.PullClosed(1))
    assert h.status(1) == q.CANCELLED and of(out, q.Dequeue)[0].reason == "the PR was closed"
    h.merge(2)
    h(q.PullClosed(2, merged=True))
    assert h.state.pull(2).reason == "merged outside the queue" and h.build is None


def test_cancel_removes_the_pr_and_says_so_and_cancel_of_nothing_says_that() -> None:
    h = Q()
    h.merge(1)
    out = h(q.CancelRequested(1, "bob"))
    assert h.status(1) == q.CANCELLED and "by @\u200bbob" in comments(out, 1) and of(out, q.CancelBuild)
    assert "Nothing to cancel" in comments(h(q.CancelRequested(7, "bob")), 7)


def test_retry_requeues_after_a_failure_and_refuses_otherwise() -> None:
    h = Q(NEVER_CONFIRM)
    h.merge(1)
    h.run(False)
    assert h.status(1) == q.FAILED
    out = h(q.RetryRequested(1, "alice", head(1), "main", "success"))
    assert h.status(1) == q.TESTING and of(out, q.CreateStaging) and h.state.pull(1).strikes == 0
    assert "Already in the merge queue" in comments(h(q.RetryRequested(1, "alice", head(1), "main", "success")), 1)
    assert "Nothing to retry" in comments(h(q.RetryRequested(5, "alice", head(5), "main")), 5)


def test_gates_turning_red_while_queued_send_the_pr_back_to_waiting() -> None:
    h = Q()
    h.merge(1)
    out = h(q.PullGates(1, head(1), "failure", ("review: changes requested by carol",)))
    assert h.status(1) == q.WAITING and of(out, q.CancelBuild)
    assert "changes requested" in status_text(pull_status(h.state, 1))  # shown in its report, no new comment


# ---------------------------------------------------------------------------------------------
# Priorities and preemption


def test_priority_reorders_the_ready_prs() -> None:
    h = Q(replace(CFG, batch_size=1, preempt=False))
    for n in (1, 2, 3):
        h.merge(n)
    h(q.PriorityChanged(3, 5))
    assert [p.number for p in q.queue_order(h.state, "main")] == [1, 3, 2]
    assert not comments(h(q.PriorityChanged(9, 1)), 9)  # the command's reply says it (commands/plan.py)
    assert h.state.pull(9).priority == 1


def test_a_higher_priority_pr_preempts_a_running_lower_priority_build() -> None:
    h = Q()
    h.merge(1)
    sha = h.created()
    out = h.merge(2, priority=3)
    assert of(out, q.CancelBuild)[0].sha == sha
    [create] = of(out, q.CreateStaging)
    assert [p.number for p in create.pulls] == [2, 1]


def test_a_bisection_build_is_preempted_only_by_a_priority_above_every_suspect() -> None:
    """Regression (found by the property test): #1 (p=1) and #2 (raised to p=2 while testing) fail
    together, so the lane tests the first half, #1 alone. #3 (p=2) outranks #1 but not the group of
    suspects: it used to abort #1's build on every event while the suspects stayed, relaunching the
    same build forever (the PRs were left waiting in a calm world)."""
    h = Q(NEVER_CONFIRM)
    h.merge(2)
    h.merge(1, priority=1)  # preempts #2's build: one batch [1, 2]
    sha = h.created()
    h.merge(2, priority=2)  # already testing: only its priority changes
    h.merge(3, priority=2)  # not above every PR of the running batch: it waits
    h.checks(sha, tests="failure")
    build = h.build
    assert build is not None and build.state == q.CREATING and h.state.lane("main").suspects
    first = build.id
    for _ in range(3):
        out = h.later(1)
        assert not of(out, q.CancelBuild) and not of(out, q.CreateStaging), out
    assert h.build is not None and h.build.id == first
    out = h.merge(4, priority=5)  # above every suspect: the bisection yields to it
    assert of(out, q.CancelBuild) and of(out, q.CreateStaging)[0].pulls[0].number == 4


def test_without_preempt_the_running_build_finishes_first() -> None:
    h = Q(replace(CFG, preempt=False))
    h.merge(1)
    h.created()
    out = h.merge(2, priority=3)
    assert not of(out, q.CancelBuild) and not of(out, q.CreateStaging)


def test_single_on_a_pr_of_a_running_batch_rebuilds_without_it() -> None:
    h = Q(replace(CFG, batch_delay_seconds=1))
    h.merge(1), h.merge(2)
    h.later(1)
    out = h(q.SingleChanged(1, True))
    [create] = of(out, q.CreateStaging)
    assert [p.number for p in create.pulls] == [1]


# ---------------------------------------------------------------------------------------------
# Try, base moves, conflicts


def test_try_builds_on_its_own_branch_and_reports_without_landing() -> None:
    h = Q()
    h.merge(1)
    out = h(q.TryRequested(2, "main", head(2), "alice"))
    [create] = of(out, q.CreateStaging)
    assert (create.branch, create.purpose, create.pulls) == ("mlgate/try/2", "try", (q.StagedPull(2, head(2)),))
    h(q.StagingCreated(create.build_id, "e" * 40, "b" * 40))
    out = h.checks("e" * 40, tests="success", bias="failure")
    assert "Try build failed" in comments(out, 2) and "mlgate/bias: failure" in comments(out, 2)
    assert not of(out, q.FastForward) and not of(out, q.MergePull) and h.state.tries == ()
    assert h.status(1) == q.TESTING  # the queue was not disturbed


def test_an_outside_push_to_the_base_rebuilds_the_running_batch() -> None:
    h = Q()
    h.merge(1)
    h.created("b" * 40)
    out = h(q.BaseMoved("main", "9" * 40))
    assert of(out, q.CancelBuild) and of(out, q.CreateStaging)[0].base_sha == "9" * 40


def test_seeing_our_own_fast_forward_as_a_push_lands_the_batch() -> None:
    h = Q()
    h.merge(1)
    sha = h.created()
    h.checks(sha)
    out = h(q.BaseMoved("main", sha))
    assert [m.number for m in of(out, q.MergePull)] == [1]
    assert not of(h(q.FastForwardDone(h.state.next_id - 1, sha)), q.MergePull)  # no double landing


def test_a_conflict_inside_a_batch_tests_the_pr_alone_and_a_conflict_alone_rejects_it() -> None:
    h = Q(replace(CFG, batch_delay_seconds=1))
    h.merge(1), h.merge(2)
    h.later(1)
    out = h(q.StagingFailed(h.build.id, 2, "conflict in train.py"))
    [create] = of(out, q.CreateStaging)
    assert [p.number for p in create.pulls] == [1]
    h.run(True)
    assert h.build.numbers == (2,)
    out = h(q.StagingFailed(h.build.id, 2, "conflict in train.py"))
    assert h.status(2) == q.FAILED and "does not merge cleanly into main" in comments(out, 2)


# ---------------------------------------------------------------------------------------------
# Restart: the state is data


def test_state_round_trips_through_json_at_every_step_and_resume_re_emits_what_is_in_flight() -> None:
    h = Q(replace(CFG, batch_delay_seconds=1))
    h(q.SingleChanged(3, True))
    h.merge(1), h.merge(2, priority=1), h.merge(3), h.merge(4, gates="pending", reasons=("review",))
    h.later(1)
    h(q.TryRequested(5, "main", head(5), "bob"))
    states = [h.state]
    h.run(False)
    states.append(h.state)
    sha = h.created()
    states.append(h.state)
    h.checks(sha)
    states.append(h.state)
    for state in states:
        text = json.dumps(q.state_to_json(state))
        assert q.state_from_json(json.loads(text)) == state
    # a restart while the fast-forward is in flight asks for it again, and for the try's commit
    restarted = q.state_from_json(json.loads(json.dumps(q.state_to_json(h.state))))
    _, actions = q.step(restarted, q.Resume(), h.now, h.cfg)
    assert [(a.from_sha, a.to_sha, a.build_id) for a in of(actions, q.FastForward)] == [("b" * 40, sha, h.build.id)]
    assert [a.purpose for a in of(actions, q.CreateStaging)] == ["try"]


def test_a_restarted_queue_continues_exactly_like_the_original() -> None:
    h1, h2 = Q(replace(NEVER_CONFIRM, batch_delay_seconds=1)), Q(replace(NEVER_CONFIRM, batch_delay_seconds=1))
    for h in (h1, h2):
        for n in (1, 2, 3):
            h.merge(n)
        h.later(1)
        h.run(False)
    h2.state = q.state_from_json(json.loads(json.dumps(q.state_to_json(h2.state))))
    for green in (True, False, True):
        assert h1.run(green) == h2.run(green)
    assert h1.state == h2.state
    assert [h1.status(n) for n in (1, 2, 3)] == [q.MERGED, q.FAILED, q.MERGED]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be an object"),
        ({"schema": "other/v1", "state": {}}, "schema is 'other/v1'"),
        ({"schema": q.SCHEMA, "state": {"repo": "a/b", "bogus": 1}}, "unknown field 'bogus'"),
        (
            {"schema": q.SCHEMA, "state": {"repo": "a/b", "pulls": [{"number": "7"}]}},
            r"state\.pulls\[0\]\.number must be int",
        ),
        ({"schema": q.SCHEMA, "state": {"repo": "a/b", "lanes": {}}}, "state.lanes must be a list"),
    ],
)
def test_a_damaged_state_document_is_refused_with_what_is_wrong(doc: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        q.state_from_json(doc)  # type: ignore[arg-type]


def test_step_refuses_what_is_not_a_queue_event() -> None:
    with pytest.raises(TypeError, match="not a queue event: str"):
        q.step(q.QueueState(REPO), "merge", 0.0, CFG)  # type: ignore[arg-type]


def test_user_text_in_comments_is_escaped() -> None:
    h = Q()
    out = h.merge(1, gates="failure", reasons=("<img src=x> **bold** @team",))
    text = comments(out, 1)
    assert "<img" not in text and "&lt;img" in text and "\\*\\*bold" in text and "@\u200bteam" in text


def test_the_simulation_drives_this_state_machine_and_beats_serial_without_landing_broken_prs() -> None:
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "queue_sim.py"
    spec = importlib.util.spec_from_file_location("queue_sim", path)
    sim = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("queue_sim", sim)  # dataclasses look their module up
    spec.loader.exec_module(sim)  # type: ignore[union-attr]
    result = sim.simulate(prs=40, fail_rate=0.1, flaky_rate=0.0, ci_minutes=30, seeds=3, arrival="together",
                          gap_minutes=15, batch_size=50, halving_batch=50)
    assert set(result) == {"serial", "halving", "mlgate"}
    for metrics in result.values():
        assert metrics["broken_landed"] == 0 and metrics["good_rejected"] == 0
    assert result["mlgate"]["merged"] == result["serial"]["merged"]  # every good PR lands
    assert result["mlgate"]["ci_runs_per_merged"] < result["halving"]["ci_runs_per_merged"] < 1.0


# ---------------------------------------------------------------------------------------------
# Pausing a base, holding a PR


def test_pause_stops_new_builds_while_the_running_one_lands_and_resume_starts_them_again() -> None:
    h = Q(replace(CFG, batch_size=1, adaptive=False))
    h.merge(1)
    out = h(q.PauseChanged("main", True, "maria", "incident <b>", number=1))
    assert "Paused" in comments(out, 1) and "incident &lt;b&gt;" in comments(out, 1)
    assert "1 build(s) already running finish" in comments(out, 1)
    out = h.merge(2)
    assert "paused by maria" in comments(out, 2)
    h.run(True)  # the running build finishes and lands
    assert h.status(1) == q.MERGED and h.build is None and h.status(2) == q.QUEUED
    assert not of(h.later(3600), q.CreateStaging)  # nothing new starts, whatever the time
    lane = h.state.lane("main")
    assert q.lane_summary(lane, h.state) == "main: paused by maria: incident <b> (1 in the queue; testing nothing)"
    out = h(q.PauseChanged("main", False, "maria", number=2))
    assert "Resumed" in comments(out, 2)
    assert [a.pulls[0].number for a in of(out, q.CreateStaging)] == [2]
    assert q.lane_summary(h.state.lane("main"), h.state).startswith("main: running (1 in the queue; testing #2")


def test_pause_survives_a_restart_through_the_stored_state() -> None:
    h = Q()
    h(q.PauseChanged("main", True, "maria", "release freeze"))
    restored = q.state_from_json(json.loads(json.dumps(q.state_to_json(h.state))))
    lane = restored.lane("main")
    assert lane is not None and (lane.paused, lane.paused_by) == ("release freeze", "maria")
    h2 = Q(state=restored)
    assert not of(h2.merge(1), q.CreateStaging)


def test_a_state_stored_before_pause_and_hold_existed_still_loads() -> None:
    doc = q.state_to_json(q.QueueState(REPO, pulls=(q.Pull(1, "main"),), lanes=(q.Lane("main"),)))
    for pull in doc["state"]["pulls"]:
        del pull["held"], pull["held_by"]
    for lane in doc["state"]["lanes"]:
        for key in ("ahead", "paused", "paused_by", "paused_at"):
            del lane[key]
    state = q.state_from_json(doc)
    assert state.lane("main").paused is None and not state.pull(1).held


def test_pause_and_resume_of_a_branch_outside_the_queue_say_so() -> None:
    h = Q()
    out = h(q.PauseChanged("dev", True, "maria", number=3))
    assert "not in `merge.branches`" in comments(out, 3) and h.state.lane("dev") is None
    out = h(q.PauseChanged("main", False, "maria", number=3))
    assert "not paused" in comments(out, 3)


def test_hold_keeps_a_pr_out_of_batches_and_takes_it_out_of_a_running_one() -> None:
    h = Q()
    h.merge(1)
    h.merge(2)
    h(q.Tick())
    assert h.build is not None and h.build.numbers == (1,)
    out = h(q.HoldChanged(1, True, "bob"))
    assert "On hold" in comments(out, 1) and of(out, q.CancelBuild)
    assert h.status(1) == q.QUEUED and h.state.pull(1).held
    assert h.build is not None and h.build.numbers == (2,)  # rebuilt without it
    h.run(True)
    assert h.status(2) == q.MERGED and h.build is None and h.status(1) == q.QUEUED
    assert "already on hold" in comments(h(q.HoldChanged(1, True, "bob")), 1).lower()
    out = h(q.HoldChanged(1, False, "bob"))
    assert "Hold lifted" in comments(out, 1) and [a.pulls[0].number for a in of(out, q.CreateStaging)] == [1]


def test_hold_while_the_pr_is_landing_is_too_late_for_that_build() -> None:
    h = Q()
    h.merge(1)
    sha = h.created()
    h.checks(sha)
    out = h(q.HoldChanged(1, True, "bob"))
    assert "too late" in comments(out, 1) and not of(out, q.CancelBuild)
    h(q.FastForwardDone(h.build.id, sha))
    assert h.status(1) == q.MERGED


# ---------------------------------------------------------------------------------------------
# Speculative builds (merge.parallel)

PARALLEL = replace(CFG, parallel=3, batch_size=1, adaptive=False, confirm_threshold=2.0)


def spec_created(h: Q, index: int) -> str:
    build = h.state.lane("main").chain[index]
    h.shas += 1
    sha = f"{h.shas:040x}"
    h(q.StagingCreated(build.id, sha, build.base_sha or "b" * 40))
    return sha


def test_parallel_builds_stack_on_each_others_staging_commits_on_their_own_refs() -> None:
    h = Q(PARALLEL)
    for n in (1, 2, 3, 4):
        h.merge(n)
    lane = h.state.lane("main")
    assert [b.numbers for b in lane.chain] == [(1,)]  # the next is stacked once this one's commit exists
    s1 = h.created()
    s2 = spec_created(h, 1)
    spec_created(h, 2)
    lane = h.state.lane("main")
    assert [b.numbers for b in lane.chain] == [(1,), (2,), (3,)] and h.status(4) == q.QUEUED
    assert [b.branch for b in lane.chain] == ["mlgate/staging/main", "mlgate/staging/main@2", "mlgate/staging/main@3"]
    assert [b.base_sha for b in lane.chain] == ["b" * 40, s1, s2]
    assert [p.number for p in q.queue_order(h.state, "main")] == [1, 2, 3, 4]


def test_a_green_speculative_build_waits_for_the_ones_below_then_lands_on_its_own_sha() -> None:
    h = Q(PARALLEL)
    for n in (1, 2):
        h.merge(n)
    s1 = h.created()
    s2 = spec_created(h, 1)
    assert not of(h.checks(s2), q.FastForward)  # #2's build passed first: it waits for #1's
    out = h.checks(s1)
    assert [(a.from_sha, a.to_sha) for a in of(out, q.FastForward)] == [("b" * 40, s1)]
    out = h(q.FastForwardDone(h.build.id, s1))
    # #1 landed; #2's result stands for its own SHA, built on s1: it lands next, without another run
    assert h.status(1) == q.MERGED
    assert [(a.from_sha, a.to_sha) for a in of(out, q.FastForward)] == [(s1, s2)]
    h(q.FastForwardDone(h.build.id, s2))
    assert h.status(2) == q.MERGED and h.state.lane("main").base_sha == s2


def test_a_red_build_abandons_everything_stacked_on_it_and_the_rest_is_rebuilt_on_the_base() -> None:
    h = Q(PARALLEL)
    for n in (1, 2, 3):
        h.merge(n)
    s1 = h.created()
    s2 = spec_created(h, 1)
    s3 = spec_created(h, 2)
    out = h.checks(s1, tests="failure")
    assert [c.sha for c in of(out, q.CancelBuild)] == [s3, s2]  # newest first
    assert h.status(1) == q.FAILED  # singled out alone (never confirmed with this config)
    lane = h.state.lane("main")
    assert [b.numbers for b in lane.chain] == [(2,)] and lane.chain[0].base_sha == lane.base_sha


def test_a_red_speculative_build_dooms_only_what_is_stacked_on_it() -> None:
    h = Q(PARALLEL)
    for n in (1, 2, 3):
        h.merge(n)
    h.created()
    s2 = spec_created(h, 1)
    s3 = spec_created(h, 2)
    out = h.checks(s2, tests="failure")
    assert [c.sha for c in of(out, q.CancelBuild)] == [s3]
    lane = h.state.lane("main")
    assert [b.numbers for b in lane.chain] == [(1,), (2,)] and h.status(3) == q.QUEUED


def test_a_speculative_build_not_built_on_the_commit_below_it_is_abandoned() -> None:
    h = Q(PARALLEL)
    for n in (1, 2):
        h.merge(n)
    h.created()
    spec = h.state.lane("main").chain[1]
    out = h(q.StagingCreated(spec.id, "e" * 40, "b" * 40))  # built on the base, not on #1's commit
    assert of(out, q.CancelBuild)
    chain = h.state.lane("main").chain
    assert chain[1].id != spec.id and chain[1].base_sha == chain[0].sha  # stacked again, properly


def test_a_refused_fast_forward_while_the_base_stood_still_keeps_the_build_landing() -> None:
    h = Q()
    h.merge(1)
    sha = h.created()
    out = h.checks(sha)
    (ff,) = of(out, q.FastForward)
    out = h(q.FastForwardRefused(ff.build_id, "protected", "b" * 40))
    assert not of(out, q.CreateStaging) and h.build.state == q.LANDING
    out = h.later(CFG.start_timeout_minutes * 60)
    assert [a.to_sha for a in of(out, q.FastForward)] == [sha]  # asked again later, same tested SHA


def test_parallel_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="parallel"):
        q.QueueConfig(parallel=0)


def test_the_simulation_with_parallel_builds_lands_sooner_and_never_lands_a_broken_pr() -> None:
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "queue_sim.py"
    spec = importlib.util.spec_from_file_location("queue_sim", path)
    sim = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("queue_sim", sim)
    spec.loader.exec_module(sim)  # type: ignore[union-attr]
    result = sim.simulate(prs=60, fail_rate=0.1, flaky_rate=0.0, ci_minutes=30, seeds=3, arrival="poisson",
                          gap_minutes=3, batch_size=50, halving_batch=50, parallel=(1, 3))
    assert set(result) == {"serial", "halving", "mlgate N=1", "mlgate N=3"}
    one, three = result["mlgate N=1"], result["mlgate N=3"]
    for metrics in result.values():
        assert metrics["broken_landed"] == 0 and metrics["good_rejected"] == 0
        assert metrics["p90_hours_to_merge"] >= metrics["median_hours_to_merge"]
    assert three["merged"] == one["merged"] == result["serial"]["merged"]
    assert three["median_hours_to_merge"] < one["median_hours_to_merge"]
    assert three["ci_runs_per_merged"] < 2 * one["ci_runs_per_merged"]


def test_a_speculative_builds_ref_names_its_base_for_the_actions_config_lookup() -> None:
    from mlgate.checks.publish.config_ref import MergeBase, plan
    from mlgate.names import staging_base, staging_branch

    assert [staging_branch("main", k) for k in (0, 1, 2)] == [
        "mlgate/staging/main", "mlgate/staging/main@2", "mlgate/staging/main@3"]
    assert staging_base("release/2.x@3") == "release/2.x" and staging_base("main") == "main"
    assert staging_base("odd@name") == "odd@name"  # not a slot suffix: the branch's own name
    decision = plan("push", {}, "refs/heads/mlgate/staging/main@2", "f" * 40)
    assert isinstance(decision, MergeBase) and decision.branch == "main"


# ---------------------------------------------------------------------------------------------
# Bisection probes (merge.parallel > 1): a known-bad group is bisected beside the chain

PROBES = replace(CFG, parallel=3, batch_size=3, adaptive=False, confirm_threshold=2.0, batch_delay_seconds=60)


def lane_of(h: Q) -> q.Lane:
    lane = h.state.lane("main")
    assert lane is not None
    return lane


def probe_created(h: Q, numbers: tuple[int, ...]) -> str:
    """The executor built the probe testing `numbers` on the tip."""
    probe = next(b for b in lane_of(h).probes if b.numbers == numbers)
    h.shas += 1
    sha = f"{h.shas:040x}"
    h(q.StagingCreated(probe.id, sha, lane_of(h).base_sha or "b" * 40))
    return sha


def failed_head(h: Q, prs: range = range(1, 7)) -> tuple[object, ...]:
    """#1-#3 on the tip with #4-#6 stacked on it; the batch on the tip fails."""
    for n in prs:
        h.merge(n)
    h.later(60)  # the batch delay: the first three form one batch
    s1 = h.created()
    spec_created(h, 1)
    return h.checks(s1, tests="failure")


def test_a_failed_batch_is_bisected_by_probes_beside_a_fresh_batch_on_the_tip() -> None:
    h = Q(PROBES)
    out = failed_head(h)
    lane = lane_of(h)
    assert lane.suspects == (1, 2, 3)
    # two parts probed on the tip (the third is inferred), each on a ref of its own, never landed ...
    assert [b.numbers for b in lane.probes] == [(1,), (2,)] and {b.kind for b in lane.probes} == {"probe"}
    creates = of(out, q.CreateStaging)
    assert [(c.pulls[0].number, c.purpose, c.base_sha) for c in creates if c.purpose == "probe"] == [
        (1, "probe", None), (2, "probe", None)]
    # ... while the fresh PRs the failure abandoned are rebuilt on the tip in the third slot
    assert [b.numbers for b in lane.chain] == [(4, 5, 6)] and lane.chain[0].kind == "batch"
    refs = [b.branch for b in (*lane.chain, *lane.probes)]
    assert len(set(refs)) == 3 and all(r.startswith("mlgate/staging/main") for r in refs)
    assert {h.status(n) for n in (1, 2, 3)} == {q.QUEUED}
    assert [p.number for p in q.queue_order(h.state, "main", 3)][:6] == [4, 5, 6, 1, 2, 3]


def test_green_probes_vet_their_prs_and_the_inferred_part_is_rejected_without_a_run_of_its_own() -> None:
    h = Q(PROBES)
    failed_head(h)
    p1, p2 = probe_created(h, (1,)), probe_created(h, (2,))
    h.checks(p1)
    assert lane_of(h).suspects == (2, 3) and h.state.pull(1).vetted and h.status(1) == q.QUEUED
    out = h.checks(p2)
    assert h.status(3) == q.FAILED and "singled out by bisection" in comments(out, 3)
    assert not of(out, q.FastForward)  # a probe never lands
    lane = lane_of(h)
    assert lane.suspects == () and lane.probes == ()
    assert h.state.pull(2).vetted and h.status(2) == q.QUEUED


def test_vetted_prs_ride_in_the_next_batch_without_counting_toward_its_size() -> None:
    from mlgate.bot.queue.model import next_group

    pool = [q.Pull(1, vetted=True), q.Pull(2), q.Pull(3, vetted=True), q.Pull(4), q.Pull(5)]
    assert next_group(pool, 2) == (1, 2, 3, 4)
    assert next_group(pool, 2, ceiling=3) == (1, 2, 3)  # merge.batch_size stays a ceiling
    assert next_group([q.Pull(1), q.Pull(2)], 1) == (1,)


def test_a_red_probe_narrows_the_suspects_to_its_part_and_the_rest_goes_back_unjudged() -> None:
    h = Q(PROBES)
    failed_head(h)
    p1, p2 = probe_created(h, (1,)), probe_created(h, (2,))
    out = h.checks(p1, tests="failure")
    assert h.status(1) == q.FAILED and "failed when tested alone" in comments(out, 1)
    assert lane_of(h).suspects == () and h.status(3) == q.QUEUED and not h.state.pull(3).vetted
    h.checks(p2)  # the other probe of the old group still tells something: #2 is vetted
    assert h.state.pull(2).vetted and lane_of(h).probes == ()


def test_a_fresh_batch_failing_during_a_bisection_is_parked_and_bisected_next() -> None:
    h = Q(PROBES)
    failed_head(h)
    s4 = h.created()
    out = h.checks(s4, tests="failure")
    lane = lane_of(h)
    assert lane.suspects == (1, 2, 3)  # the open bisection is kept ...
    assert [g.numbers for g in lane.parked] == [(4, 5, 6)]  # ... and the new known-bad group waits
    assert {h.status(n) for n in (4, 5, 6)} == {q.QUEUED} and not of(out, q.Dequeue)
    assert all(4 not in b.numbers for b in lane.chain)  # never re-batched with fresh PRs
    h.checks(probe_created(h, (1,)))
    h.checks(probe_created(h, (2,)))  # #3 inferred and rejected: the parked group is next
    lane = lane_of(h)
    assert h.status(3) == q.FAILED and lane.suspects == (4, 5, 6) and lane.parked == ()
    assert [b.numbers for b in lane.probes] == [(4,), (5,)]


def test_a_red_batch_suspects_only_its_unvetted_prs_and_the_vetted_ones_count_again() -> None:
    h = Q(replace(PROBES, parallel=2))
    for n in (1, 2, 3, 4):
        h.merge(n)
    h.later(60)
    h.checks(h.created(), tests="failure")  # (1, 2, 3) red: with two slots, one probe (1, 2) and (4,)
    lane = lane_of(h)
    assert [b.numbers for b in lane.probes] == [(1, 2)] and [b.numbers for b in lane.chain] == [(4,)]
    h.checks(probe_created(h, (1, 2)))
    assert h.state.pull(1).vetted and h.state.pull(2).vetted and h.status(3) == q.FAILED
    # a batch of vetted #1 with fresh PRs fails: only the fresh ones are suspects
    h2 = Q(PROBES)
    h2.state = replace(h2.state, pulls=(q.Pull(7, "main", head(7), q.QUEUED, seq=1, queued_at=h2.now, vetted=True),),
                       next_seq=2)
    h2.merge(8)
    h2.merge(9)
    h2.later(60)
    assert h2.build.numbers == (7, 8, 9)
    h2.checks(h2.created(), tests="failure")
    assert lane_of(h2).suspects == (8, 9) and not h2.state.pull(7).vetted


def test_a_pr_leaving_drops_the_probe_testing_it_and_its_group() -> None:
    h = Q(PROBES)
    failed_head(h)
    probe = lane_of(h).probes[0]
    sha = probe_created(h, (1,))
    out = h(q.CancelRequested(1, "alice"))
    assert [(c.build_id, c.sha) for c in of(out, q.CancelBuild)] == [(probe.id, sha)]
    lane = lane_of(h)
    assert lane.suspects == () and all(1 not in b.numbers for b in lane.probes)
    assert h.status(1) == q.CANCELLED and h.status(3) in (q.QUEUED, q.TESTING)  # unjudged again


def test_a_probe_whose_checks_never_start_counts_as_red() -> None:
    h = Q(PROBES)
    failed_head(h)
    probe_created(h, (1,))
    probe_created(h, (2,))
    h.later(PROBES.start_timeout_minutes * 60 + 1)
    for n in (1, 2):  # each probe red by timeout, as a build on the tip would be: alone, its PR is out
        assert h.status(n) == q.FAILED and "tests was not started within 10 minutes" in h.state.pull(n).reason
    assert lane_of(h).probes == () and lane_of(h).suspects == ()


def test_probes_survive_a_restart_and_resume_re_emits_the_ones_being_built() -> None:
    h = Q(PROBES)
    failed_head(h)
    data = json.loads(json.dumps(q.state_to_json(h.state)))
    restored = q.state_from_json(data)
    assert restored == h.state and restored.lane("main").probes == h.state.lane("main").probes
    out = h(q.Resume())
    assert sorted(c.build_id for c in of(out, q.CreateStaging) if c.purpose == "probe") == sorted(
        b.id for b in lane_of(h).probes)


def test_a_lone_probe_that_does_not_merge_into_the_base_fails_its_pr_as_a_conflict() -> None:
    h = Q(PROBES)
    failed_head(h)
    probe = lane_of(h).probes[0]
    out = h(q.StagingFailed(probe.id, 1, "conflict in model.py"))
    assert h.status(1) == q.FAILED and "conflict" in comments(out, 1).lower()


def test_no_probe_starts_while_the_base_is_paused() -> None:
    h = Q(PROBES)
    for n in range(1, 7):
        h.merge(n)
    h.later(60)
    s1 = h.created()
    spec_created(h, 1)
    h(q.PauseChanged("main", True, "carol", "incident"))
    out = h.checks(s1, tests="failure")
    assert not [c for c in of(out, q.CreateStaging)] and lane_of(h).probes == ()
    out = h(q.PauseChanged("main", False, "carol"))
    assert [c.purpose for c in of(out, q.CreateStaging)].count("probe") == 2


def test_with_one_build_at_a_time_the_first_half_is_still_tested_on_the_tip_and_lands() -> None:
    h = Q(replace(PROBES, parallel=1))
    for n in (1, 2, 3):
        h.merge(n)
    h.later(60)
    h.checks(h.created(), tests="failure")
    lane = lane_of(h)
    assert lane.probes == () and [b.numbers for b in lane.chain] == [(1,)] and lane.chain[0].kind == "batch"


def test_parts_cut_a_group_evenly_larger_parts_first() -> None:
    from mlgate.bot.queue import strategy

    assert strategy.parts((1, 2, 3), 3) == ((1,), (2,), (3,))
    assert strategy.parts((1, 2, 3, 4), 3) == ((1, 2), (3,), (4,))
    assert strategy.parts((1, 2, 3, 4, 5, 6, 7), 3) == ((1, 2, 3), (4, 5), (6, 7))
    with pytest.raises(ValueError):
        strategy.parts((1,), 2)


def test_a_new_head_or_a_new_merge_request_is_never_vetted_by_an_old_probe() -> None:
    h = Q(PROBES)
    failed_head(h)
    h.checks(probe_created(h, (1,)))
    assert h.state.pull(1).vetted
    h(q.HeadPushed(1, head(1, 1)))
    assert not h.state.pull(1).vetted and h.status(1) == q.CANCELLED
    h.checks(probe_created(h, (2,)))
    assert h.state.pull(2).vetted
    h(q.CancelRequested(2, "alice"))
    h(q.RetryRequested(2, "alice", head(2), "main", "success"))
    assert not h.state.pull(2).vetted and h.status(2) in (q.QUEUED, q.TESTING)
