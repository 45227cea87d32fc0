"""Random event sequences against a model of GitHub: the queue's promises hold whatever happens.

The model: a commit graph (SHA -> parent and the PR versions it contains), the base ref, an
executor that builds staging commits and refuses a non-fast-forward exactly like GitHub, a CI that
reports each required check on a staging SHA (red whenever the commit contains a broken PR
version, and red by chance whenever hypothesis says "flake"), outside pushes to the base, restarts
through JSON, and every command in any order. Promises checked after every step:
- the base is only ever moved by the bot to a SHA on which CI reported every required check green,
  and a broken PR version never lands;
- no PR is lost: each /merge'd PR is waiting, queued, testing, merged, failed with a reason or
  cancelled with a reason; and once the world calms down (teardown) nothing is left waiting;
- no PR is merged twice, and a merged PR's version is in the base it was reported in.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mlgate.bot import queue as q

REQUIRED = ("tests", "lint")
PRS = range(1, 7)
CFG = q.QueueConfig(branches=("main",), batch_size=4, required_checks=REQUIRED, timeout_minutes=30,
                    start_timeout_minutes=10)


class Model:
    """GitHub as far as the queue can tell: commits, the base ref, check results per SHA."""

    def __init__(self) -> None:
        self.parent: dict[str, str | None] = {"root": None}
        self.contents: dict[str, frozenset[tuple[int, int]]] = {"root": frozenset()}
        self.base = "root"
        self.green: dict[str, dict[str, str]] = {}  # sha -> check -> conclusion as reported by CI
        self.n = 0

    def commit(self, parent: str, add: frozenset[tuple[int, int]]) -> str:
        self.n += 1
        sha = f"{self.n:040x}"
        self.parent[sha] = parent
        self.contents[sha] = self.contents[parent] | add
        return sha

    def descends(self, sha: str, ancestor: str) -> bool:
        node: str | None = sha
        while node is not None:
            if node == ancestor:
                return True
            node = self.parent[node]
        return False


class QueueMachine(RuleBasedStateMachine):
    cfg = CFG

    def __init__(self) -> None:
        super().__init__()
        self.gh = Model()
        self.state = q.QueueState("acme/models")
        self.now = 0.0
        self.version = {n: 0 for n in PRS}
        self.broken: set[tuple[int, int]] = set()
        self.closed: set[int] = set()
        self.requested: set[int] = set()
        self.merged: dict[int, int] = {}
        self.creates: list[q.CreateStaging] = []
        self.ffs: list[q.FastForward] = []
        self.staging: dict[str, frozenset[tuple[int, int]]] = {}  # staging SHA -> PR versions it adds
        self.moved_by_bot: set[str] = set()
        self.paused_before = False
        self.testing_before: set[int] = set()
        self.last_actions: tuple[object, ...] = ()
        self.probe_ids: set[int] = set()  # bisection probes: built for information, never landed
        self.created_ids: set[int] = set()

    # --- plumbing ----------------------------------------------------------------------------
    def head(self, n: int) -> str:
        return f"head-{n}-{self.version[n]}"

    def send(self, event: object) -> None:
        lane = self.state.lane("main")
        self.paused_before = bool(lane and lane.paused is not None) and not (
            isinstance(event, q.PauseChanged) and not event.on)
        self.testing_before = {n for b in lane.chain for n in b.numbers} if lane else set()
        self.created_before = set(self.created_ids)
        self.state, actions = q.step(self.state, event, self.now, self.cfg)  # type: ignore[arg-type]
        self.last_actions = actions
        for action in actions:
            self.observe(action)

    def observe(self, action: object) -> None:
        if isinstance(action, q.CreateStaging):
            self.creates.append(action)
            self.created_ids.add(action.build_id)
            if action.purpose == "probe":
                assert self.cfg.parallel > 1, "a probe with one build at a time"
                self.probe_ids.add(action.build_id)
        elif isinstance(action, q.FastForward):
            assert action.build_id not in self.probe_ids, "a probe's commit is never landed"
            self.ffs.append(action)
        elif isinstance(action, q.MergePull):
            assert action.number not in self.merged, f"#{action.number} merged twice"
            self.merged[action.number] = self.version[action.number]
            version = int(action.head_sha.rsplit("-", 1)[1])
            assert (action.number, version) in self.gh.contents[action.landed_sha], "reported landed, not in it"
            assert self.gh.descends(self.gh.base, action.landed_sha), "landed SHA is not on the base"
            assert (action.number, version) not in self.broken, f"broken #{action.number} landed"

    def open_prs(self) -> list[int]:
        return [n for n in PRS if n not in self.closed and n not in self.merged]

    # --- the world ---------------------------------------------------------------------------
    @initialize(broken=st.sets(st.sampled_from(list(PRS)), max_size=3))
    def init(self, broken: set[int]) -> None:
        self.broken = {(n, 0) for n in broken}

    @rule(n=st.sampled_from(list(PRS)), priority=st.none() | st.integers(0, 3),
          gates=st.sampled_from(["success", "success", "pending", "failure"]))
    def merge(self, n: int, priority: int | None, gates: str) -> None:
        if n in self.open_prs():
            self.requested.add(n)
            self.send(q.MergeRequested(n, "main", self.head(n), "alice", priority, gates, ("review",)))

    @rule(n=st.sampled_from(list(PRS)), conclusion=st.sampled_from(["success", "pending", "failure"]))
    def gates(self, n: int, conclusion: str) -> None:
        if n in self.open_prs():
            self.send(q.PullGates(n, self.head(n), conclusion, ("review",)))

    @rule(n=st.sampled_from(list(PRS)), broken=st.booleans())
    def push(self, n: int, broken: bool) -> None:
        if n in self.open_prs():
            self.version[n] += 1
            if broken:
                self.broken.add((n, self.version[n]))
            self.send(q.HeadPushed(n, self.head(n)))

    @rule(n=st.sampled_from(list(PRS)))
    def close(self, n: int) -> None:
        if n in self.open_prs():
            self.closed.add(n)
            self.send(q.PullClosed(n))

    @rule(n=st.sampled_from(list(PRS)),
          which=st.sampled_from(["cancel", "retry", "priority", "single", "try", "hold", "unhold"]),
          value=st.integers(0, 3))
    def command(self, n: int, which: str, value: int) -> None:
        if n not in self.open_prs():
            return
        event = {
            "cancel": q.CancelRequested(n, "bob"),
            "retry": q.RetryRequested(n, "bob", self.head(n), "main", "success"),
            "priority": q.PriorityChanged(n, value),
            "single": q.SingleChanged(n, value % 2 == 0),
            "try": q.TryRequested(n, "main", self.head(n), "bob"),
            "hold": q.HoldChanged(n, True, "bob"),
            "unhold": q.HoldChanged(n, False, "bob"),
        }[which]
        pull = self.state.pull(n)
        if which == "retry" and pull is not None and pull.status in (q.FAILED, q.CANCELLED):
            self.requested.add(n)
        self.send(event)

    @precondition(lambda self: self.creates)
    @rule(index=st.integers(0, 10), conflict=st.booleans(), on_old_base=st.booleans())
    def executor_creates(self, index: int, conflict: bool, on_old_base: bool) -> None:
        action = self.creates.pop(index % len(self.creates))
        if conflict and len(self.creates) % 3 == 0:
            self.send(q.StagingFailed(action.build_id, action.pulls[-1].number, "conflict"))
            return
        base = action.base_sha if (action.base_sha and on_old_base) else self.gh.base
        add = frozenset((p.number, int(p.head_sha.rsplit("-", 1)[1])) for p in action.pulls)
        sha = self.gh.commit(base, add)
        self.staging[sha] = add
        self.send(q.StagingCreated(action.build_id, sha, base))

    @precondition(lambda self: self.ffs)
    @rule(index=st.integers(0, 10))
    def executor_fast_forwards(self, index: int) -> None:
        action = self.ffs.pop(index % len(self.ffs))
        if self.gh.base == action.to_sha:
            self.send(q.FastForwardDone(action.build_id, action.to_sha))
        elif self.gh.base == action.from_sha and self.gh.descends(action.to_sha, self.gh.base):
            # THE promise: the bot only moves the base to a commit CI reported green on every check
            reported = self.gh.green.get(action.to_sha, {})
            assert all(reported.get(c) == "success" for c in REQUIRED), f"untested {action.to_sha}: {reported}"
            self.gh.base = action.to_sha
            self.moved_by_bot.add(action.to_sha)
            self.send(q.FastForwardDone(action.build_id, action.to_sha))
        else:
            self.send(q.FastForwardRefused(action.build_id, "not a fast-forward", self.gh.base))

    @precondition(lambda self: self.staging)
    @rule(index=st.integers(0, 50), check=st.sampled_from(REQUIRED), flake=st.booleans(),
          status=st.sampled_from(["completed", "completed", "in_progress"]))
    def ci_reports(self, index: int, check: str, flake: bool, status: str) -> None:
        shas = sorted(self.staging)
        sha = shas[index % len(shas)]
        broken = bool(self.gh.contents[sha] & self.broken)
        conclusion = None
        if status == "completed":
            conclusion = "failure" if (broken or flake) else "success"
            self.gh.green.setdefault(sha, {})[check] = conclusion
        self.send(q.CheckUpdate(sha, check, status, conclusion))

    @rule(minutes=st.sampled_from([1, 5, 11, 31]))
    def tick(self, minutes: int) -> None:
        self.now += minutes * 60
        self.send(q.Tick())

    @rule(on=st.booleans())
    def pause(self, on: bool) -> None:
        self.send(q.PauseChanged("main", on, "carol", "incident", number=1))

    @rule()
    def outside_push(self) -> None:
        self.gh.base = self.gh.commit(self.gh.base, frozenset())
        self.send(q.BaseMoved("main", self.gh.base))

    @rule()
    def restart(self) -> None:
        self.state = q.state_from_json(json.loads(json.dumps(q.state_to_json(self.state))))
        self.creates, self.ffs = [], []  # whatever the executor was doing is lost with the process
        self.send(q.Resume())

    # --- promises ----------------------------------------------------------------------------
    @invariant()
    def nothing_is_lost(self) -> None:
        for n in self.requested:
            pull = self.state.pull(n)
            assert pull is not None, f"#{n} was /merge'd and is unknown to the queue"
            assert pull.status in q.ACTIVE | q.FINAL, f"#{n} is {pull.status}"
            if pull.status in (q.FAILED, q.CANCELLED):
                assert pull.reason, f"#{n} is {pull.status} without a reason"
            if pull.status == q.MERGED:
                assert n in self.merged
        for n in self.merged:
            assert self.state.pull(n).status == q.MERGED

    @invariant()
    def nothing_new_starts_while_paused_and_held_prs_stay_out(self) -> None:
        """Paused: no PR enters a build (a refused fast-forward rebuilds the same PRs: the running one
        finishing). Held: never in a build started since."""
        lane = self.state.lane("main")
        testing = {n for b in lane.chain for n in b.numbers} if lane else set()
        if self.paused_before:
            assert testing <= self.testing_before, f"{testing - self.testing_before} started on a paused base"
        for action in self.last_actions:
            if isinstance(action, q.CreateStaging) and action.purpose in ("batch", "probe"):
                for p in action.pulls:
                    assert not self.state.pull(p.number).held, f"held #{p.number} put in a build"
            if isinstance(action, q.CreateStaging) and action.purpose == "probe" and self.paused_before:
                assert action.build_id in self.created_before, "a new probe started on a paused base"

    @invariant()
    def the_state_is_data(self) -> None:
        assert q.state_from_json(json.loads(json.dumps(q.state_to_json(self.state)))) == self.state

    @invariant()
    def builds_form_one_chain_and_their_prs_are_testing(self) -> None:
        """At most `parallel` builds per base, each stacked on the staging commit of the one before it,
        no PR in two of them, and only the first may be landing."""
        lane = self.state.lane("main")
        if not lane:
            return
        chain = lane.chain
        assert len(chain) + len(lane.probes) <= self.cfg.parallel, (
            f"{len(chain)} builds and {len(lane.probes)} probes with parallel {self.cfg.parallel}")
        probed = [n for b in lane.probes for n in b.numbers]
        assert len(probed) == len(set(probed)), f"a PR in two probes: {lane.probes}"
        for n in probed:
            assert self.state.pull(n).status == q.QUEUED, f"probed #{n} is {self.state.pull(n).status}"
        known_bad = [*lane.suspects, *(n for g in lane.parked for n in g.numbers)]
        assert len(known_bad) == len(set(known_bad)), f"a PR in two known-bad groups: {lane}"
        seen: set[int] = set(probed)
        for index, build in enumerate(chain):
            assert not seen & set(build.numbers), f"a PR in two builds: {chain}"
            seen |= set(build.numbers)
            for n in build.numbers:
                assert self.state.pull(n).status in (q.TESTING, q.CANCELLED, q.WAITING)
            if index:
                assert chain[index - 1].sha is not None and build.base_sha == chain[index - 1].sha
                assert build.state != q.LANDING, "a speculative build lands only after the ones below it"

    def teardown(self) -> None:
        """Calm world: the executor works, CI tells the truth, gates pass, no hold, no pause. Nothing may
        stay queued."""
        self.send(q.PauseChanged("main", False, "carol"))
        for n in PRS:
            if (self.state.pull(n) or q.Pull(n)).held:
                self.send(q.HoldChanged(n, False, "bob"))
        for n in self.open_prs():
            if n in self.requested:
                self.send(q.PullGates(n, self.head(n), "success"))
        for _ in range(300):
            if self.creates:
                action = self.creates.pop(0)
                add = frozenset((p.number, int(p.head_sha.rsplit("-", 1)[1])) for p in action.pulls)
                on = action.base_sha if action.base_sha in self.staging else self.gh.base  # as the runner does
                sha = self.gh.commit(on, add)
                self.staging[sha] = add
                self.send(q.StagingCreated(action.build_id, sha, on))
            elif self.ffs:
                self.executor_fast_forwards(0)
            else:
                running = [b for b in (*[b for lane in self.state.lanes for b in (*lane.chain, *lane.probes)],
                                       *self.state.tries)
                           if b.sha is not None and b.state == q.RUNNING]
                if not running:
                    self.now += 3600
                    self.send(q.Tick())
                    if not self.creates and not self.ffs:
                        break
                for build in running:
                    broken = bool(self.gh.contents[build.sha] & self.broken)
                    for check in REQUIRED:
                        conclusion = "failure" if broken else "success"
                        self.gh.green.setdefault(build.sha, {})[check] = conclusion
                        self.send(q.CheckUpdate(build.sha, check, "completed", conclusion))
        stuck = [p for p in self.state.pulls if p.status in q.ACTIVE]
        assert all(not lane.chain and not lane.probes for lane in self.state.lanes), "a build left in a calm world"
        assert not stuck, f"left waiting in a calm world: {stuck}"
        assert not self.state.tries


def test_regression_a_bisection_build_preempted_forever() -> None:
    """The example hypothesis found (a livelock: `left waiting in a calm world`), replayed as is.

    Stateful machines take no `@example`, so the steps are called directly, as hypothesis prints them."""
    state = QueueMachine()
    state.init(broken={1})
    state.merge(gates="success", n=2, priority=None)
    state.merge(gates="success", n=1, priority=1)
    state.restart()
    state.executor_creates(conflict=False, index=0, on_old_base=False)
    state.merge(gates="success", n=2, priority=2)
    state.merge(gates="success", n=3, priority=2)
    state.nothing_is_lost()
    state.teardown()


QueueMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
TestQueueMerge = pytest.mark.slow(QueueMachine.TestCase)


class SquashNoPreempt(QueueMachine):
    cfg = replace(CFG, method="squash", preempt=False, batch_size=3, batch_delay_seconds=60, confirm_threshold=0.0)


SquashNoPreempt.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
TestQueueSquashNoPreempt = SquashNoPreempt.TestCase


class Parallel(QueueMachine):
    """`merge.parallel: 3`: speculative builds stacked on each other; the same promises."""

    cfg = replace(CFG, parallel=3, batch_size=2)


Parallel.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
TestQueueParallel = pytest.mark.slow(Parallel.TestCase)


class ParallelSquashNoPreempt(QueueMachine):
    cfg = replace(CFG, parallel=2, method="squash", preempt=False, batch_size=2, batch_delay_seconds=60,
                  confirm_threshold=0.0)


ParallelSquashNoPreempt.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
TestQueueParallelSquashNoPreempt = ParallelSquashNoPreempt.TestCase
