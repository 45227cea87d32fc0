"""The merge queue as one pure state machine: `step(state, event, now, config) -> (state, actions)`.

No I/O here. The state, events and actions are plain frozen data (model.py; codec.py stores the
state as JSON, so a restarted bot resumes mid-batch); events are what the handlers learnt from
GitHub; actions are what the runner must do through GitHub; what the queue says on a PR is worded
in messages.py. The same inputs always give the same outputs, which is what makes the property
test and the simulation meaningful.

Semantics (bors-ng, then beyond; docs/merge-queue.md has the full story):
- `/merge [p=N]` by someone allowed, for the head they approved (both checked by the handler),
  puts a PR in the queue of its base branch. It waits while its review/PR gates are pending or
  failing (and says which) and is ready once they pass (`PullGates`). Ready PRs are ordered by
  priority, then by when `/merge` was given.
- One build per base on the tip (with `merge.parallel` N > 1, up to N - 1 more stacked on it, each
  on the previous staging commit and its own ref, landing in order): a staging commit = base tip +
  each PR of the batch, on `mlgate/staging/<base>`. Every required check must pass on that exact SHA, judged by the same
  rule as a PR head (`mlgate.bot.pr.check_rule.judge`: pinned apps, every report must pass, a gate result
  only `success` and computed with the base config). All green →
  `FastForward` the base to exactly that SHA (never force); a refusal means the base moved: the
  same batch is rebuilt on the new tip. Only after the base moved are PRs reported as landed.
- Red or timed out → bisection (bot/queue/strategy.py): test one half, infer the other; a PR
  singled out is confirmed alone once while flakes are plausible, then leaves the queue with a
  comment naming the failed checks. With `merge.parallel` > 1 the parts are tested by probes: up
  to N - 1 parts of the known-bad group, each built alone on the tip on a staging ref of its own and
  never landed, while the remaining slot(s) keep landing fresh batches; a green probe vets its PRs
  (they ride in a later batch without counting toward its size), a red one narrows the group. A
  fresh batch failing meanwhile is parked as a known-bad group of its own and bisected next.
  A required check that has not started within `start_timeout_minutes` fails the build naming
  it; one still running after `timeout_minutes` too.
- A push to a queued PR, closing it, or `/cancel` removes it (aborting its build: the others are
  rebuilt without it). `/retry` re-queues a failed or cancelled PR; `/priority N` reorders and,
  with `merge.preempt`, a ready PR with a higher priority than every PR of the running build
  aborts that build. `/single` keeps a PR in a batch of its own. `/try` builds the same kind of
  commit on `mlgate/try/<n>` and reports without landing.
- Whatever the merge method the base ends at the tested SHA: for squash and rebase the staging
  commit is built from the squashed / rebased commits (`CreateStaging.method`), and the PRs are
  then closed as landed rather than merged by GitHub (`MergePull`).

Times (`now`, `*_at`) are seconds since the epoch, floats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mlgate.bot.pr.check_rule import GateState, Judgement, Report, latest_per_source
from mlgate.bot.queue import messages, strategy
from mlgate.bot.queue.model import (
    ACTIVE,
    CANCELLED,
    CREATING,
    FAILED,
    LANDING,
    MERGED,
    QUEUED,
    RUNNING,
    TESTING,
    WAITING,
    BadGroup,
    BaseMoved,
    Build,
    CancelBuild,
    CancelRequested,
    CheckUpdate,
    Comment,
    CreateStaging,
    DeleteBranch,
    Dequeue,
    Event,
    Evidence,
    FastForward,
    FastForwardDone,
    FastForwardRefused,
    HeadPushed,
    HoldChanged,
    Lane,
    MergePull,
    MergeRequested,
    PauseChanged,
    PriorityChanged,
    Pull,
    PullClosed,
    PullGates,
    QueueAction,
    QueueConfig,
    QueueState,
    Resume,
    RetryRequested,
    SingleChanged,
    StagedPull,
    StagingCreated,
    StagingFailed,
    Tick,
    TryRequested,
    next_group,
    queue_order,
    queue_rank,
)
from mlgate.names import staging_branch, try_branch

# ---------------------------------------------------------------------------------------------
# The transition function


def step(
    state: QueueState, event: Event, now: float, config: QueueConfig
) -> tuple[QueueState, tuple[QueueAction, ...]]:
    """Apply one event at time `now`; returns the new state and the actions, in order."""
    tx = _Tx(state, now, config)
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise TypeError(f"not a queue event: {type(event).__name__}")
    handler(tx, event)
    tx.schedule()
    return tx.freeze(), tuple(tx.actions)


class _Tx:
    """A mutable working copy for one step; frozen again by `freeze()`. Never escapes `step`."""

    def __init__(self, state: QueueState, now: float, cfg: QueueConfig) -> None:
        self.repo = state.repo
        self.pulls = {p.number: p for p in state.pulls}
        self.lanes = {lane.base: lane for lane in state.lanes}
        self.tries = {t.pulls[0].number: t for t in state.tries}
        self.next_id = state.next_id
        self.next_seq = state.next_seq
        self.now = now
        self.cfg = cfg
        self.actions: list[QueueAction] = []

    def freeze(self) -> QueueState:
        return QueueState(
            repo=self.repo,
            pulls=tuple(self.pulls[n] for n in sorted(self.pulls)),
            lanes=tuple(self.lanes[b] for b in sorted(self.lanes)),
            tries=tuple(self.tries[n] for n in sorted(self.tries)),
            next_id=self.next_id,
            next_seq=self.next_seq,
        )

    # --- small helpers ---------------------------------------------------------------------
    def lane(self, base: str) -> Lane:
        if base not in self.lanes:
            self.lanes[base] = Lane(base)
        return self.lanes[base]

    def set(self, number: int, **changes: Any) -> Pull:
        pull = replace(self.pulls[number], **changes)
        self.pulls[number] = pull
        return pull

    def comment(self, number: int, body: str) -> None:
        self.actions.append(Comment(self.repo, number, body))

    def place_in_line(self, number: int) -> int:
        """1-based place of a PR in the order its base's PRs will be tried (`queue_order`)."""
        base = self.pulls[number].base
        size = strategy.batch_size(self.lane(base).recent, self.cfg.batch_size, self.cfg.adaptive, self.cfg.parallel)
        return [p.number for p in queue_order(self.freeze(), base, size, self.cfg.batch_size)].index(number) + 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def lane_of_build(self, build_id: int) -> Lane | None:
        return next((lane for lane in self.lanes.values() if any(b.id == build_id for b in lane.chain)), None)

    def find_build(self, build_id: int) -> tuple[Lane, int, Build] | None:
        """The lane, the position in its chain (0: the build on the base tip) and the build."""
        for lane in self.lanes.values():
            for index, build in enumerate(lane.chain):
                if build.id == build_id:
                    return lane, index, build
        return None

    def put_build(self, base: str, index: int, build: Build) -> None:
        """Replace the chain's build at `index` (0: `lane.build`, else `lane.ahead[index - 1]`)."""
        lane = self.lane(base)
        if index == 0:
            self.lanes[base] = replace(lane, build=build)
        else:
            ahead = list(lane.ahead)
            ahead[index - 1] = build
            self.lanes[base] = replace(lane, ahead=tuple(ahead))

    def put_probe(self, base: str, probe: Build) -> None:
        """Replace the lane's probe with the same id (no-op if it was dropped meanwhile)."""
        lane = self.lane(base)
        self.lanes[base] = replace(lane, probes=tuple(probe if b.id == probe.id else b for b in lane.probes))

    def find_probe(self, build_id: int) -> Build | None:
        return next((b for lane in self.lanes.values() for b in lane.probes if b.id == build_id), None)

    def position(self, base: str, number: int) -> int | None:
        """Where in the lane's chain the build holding PR `number` is, or None."""
        return next((i for i, b in enumerate(self.lane(base).chain) if number in b.numbers), None)

    def abort_holding(self, base: str, number: int, reason: str) -> None:
        """Abort the build holding `number` and every build stacked on it, unless it is landing."""
        index = self.position(base, number)
        if index is not None and self.lane(base).chain[index].state != LANDING:
            self.abort_from(self.lane(base), index, reason)

    def try_of_build(self, build_id: int) -> Build | None:
        return next((t for t in self.tries.values() if t.id == build_id), None)

    # --- entering and leaving ---------------------------------------------------------------
    def refuse(self, number: int, base: str, what: str) -> bool:
        """Say why the queue cannot take this PR (True) or return False."""
        if base not in self.cfg.branches:
            self.comment(number, messages.base_not_allowed(what, base, self.cfg.branches))
            return True
        if not self.cfg.required_checks:
            self.comment(number, messages.no_required_checks(what))
            return True
        return False

    def enqueue(self, number: int, base: str, head: str, user: str, priority: int | None, gates: str,
                reasons: tuple[str, ...], verb: str) -> None:
        old = self.pulls.get(number) or Pull(number)
        self.lane(base)
        self.pulls[number] = replace(
            old,
            base=base,
            head_sha=head,
            status=WAITING,
            priority=old.priority if priority is None else priority,
            seq=self.next_seq,
            queued_at=self.now,
            requested_by=user,
            reason="",
            landed_sha=None,
            strikes=0,
            alone_next=False,
            failed_checks=(),
            vetted=False,
        )
        self.next_seq += 1
        self.gates(number, gates, reasons, announce=verb)

    def gates(self, number: int, conclusion: str, reasons: tuple[str, ...], announce: str | None = None) -> None:
        """Move between WAITING and QUEUED on the PR gates' verdict; speak on changes only."""
        pull = self.pulls[number]
        if self.landing(pull):
            return  # its tested version is being fast-forwarded: too late to change anything
        if conclusion == "success":
            if pull.status == WAITING:
                self.set(number, status=QUEUED, reason="")
                if announce:  # the answer to /merge; later moves show in the PR's report comment only
                    lane = self.lane(pull.base)
                    self.comment(number, messages.queued(announce, pull.base, self.place_in_line(number),
                                                                   pull.priority)
                                 + messages.waiting_note(lane.paused, lane.paused_by, pull.held))
            return
        text = messages.gates_reason(conclusion, reasons)
        if pull.status == TESTING:
            self.abort_holding(pull.base, number, f"the gates of #{number} no longer pass")
        if pull.status in (QUEUED, TESTING):
            self.drop_suspect(pull.base, number)
        if pull.status in ACTIVE and (pull.reason != text or announce):
            self.set(number, status=WAITING, reason=text)
            if announce:  # the answer to /merge; later changes show in the PR's report comment only
                self.comment(number, messages.not_ready(announce, text, conclusion))

    def finish(self, number: int, status: str, reason: str, body: str | None) -> None:
        """A PR leaves the queue (cancelled or failed); its build, suspects and try are dropped."""
        pull = self.pulls[number]
        if pull.status not in ACTIVE:
            return
        if pull.status == TESTING:
            self.abort_holding(pull.base, number, f"#{number} left the queue")
        self.drop_suspect(pull.base, number)
        self.set(number, status=status, reason=reason)
        self.actions.append(Dequeue(self.repo, number, status, reason))
        if body:
            self.comment(number, body)

    def landing(self, pull: Pull) -> bool:
        lane = self.lanes.get(pull.base)
        build = lane.build if lane else None
        return bool(pull.status == TESTING and build and build.state == LANDING and pull.number in build.numbers)

    def drop_suspect(self, base: str, number: int) -> None:
        """A suspect left: the group is no longer known to be bad, so the others go back unjudged
        (whether it was being bisected or parked); a probe testing it is dropped."""
        lane = self.lanes.get(base)
        if lane and number in lane.suspects:
            lane = replace(lane, suspects=(), evidence=None)
            self.lanes[base] = lane
        if lane and any(number in g.numbers for g in lane.parked):
            lane = replace(lane, parked=tuple(g for g in lane.parked if number not in g.numbers))
            self.lanes[base] = lane
        if lane and any(number in b.numbers for b in lane.probes):
            self.drop_probes(base, lambda b: number in b.numbers, f"#{number} left the group it tested")

    def drop_probes(self, base: str, which: Callable[[Build], bool], reason: str) -> None:
        """Abandon the lane's probes that `which` selects (their CI is cancelled)."""
        lane = self.lane(base)
        for probe in lane.probes:
            if which(probe):
                self.actions.append(CancelBuild(self.repo, probe.id, probe.sha, reason))
        self.lanes[base] = replace(lane, probes=tuple(b for b in lane.probes if not which(b)))

    def promote(self, base: str) -> None:
        """No group under bisection: the oldest parked one is next."""
        lane = self.lane(base)
        if not lane.suspects and lane.parked:
            group = lane.parked[0]
            self.lanes[base] = replace(lane, suspects=group.numbers, evidence=group.evidence, parked=lane.parked[1:])

    def abort_build(self, lane: Lane, reason: str) -> None:
        """Abandon every build of the lane (the speculative ones are built on the first)."""
        self.abort_from(lane, 0, reason)

    def abort_from(self, lane: Lane, index: int, reason: str) -> None:
        """Abandon the chain's builds from `index` on (each later one contains the earlier ones): their
        PRs go back to the ready queue, their CI is cancelled (`CancelBuild`), newest first."""
        chain = self.lane(lane.base).chain
        if index >= len(chain):
            return
        for pos, build in reversed(list(enumerate(chain))[index:]):
            for n in build.numbers:
                if self.pulls[n].status == TESTING:
                    self.set(n, status=QUEUED)
            why = reason if pos == index else f"it was built on build {chain[index].id}, abandoned: {reason}"
            self.actions.append(CancelBuild(self.repo, build.id, build.sha, why))
        kept = chain[:index]
        self.lanes[lane.base] = replace(self.lanes[lane.base], build=kept[0] if kept else None, ahead=kept[1:])

    # --- scheduling --------------------------------------------------------------------------
    def schedule(self) -> None:
        for base in sorted(self.lanes):
            self.check_timeouts(base)
        for number in sorted(self.tries):
            self.check_try_timeouts(number)
        for base in sorted(self.lanes):
            self.promote(base)
            if base in self.cfg.branches:
                self.preempt(base)
                self.start(base)

    def ready(self, base: str) -> list[Pull]:
        lane = self.lane(base)
        busy = _known_bad(lane) | {n for b in (*lane.chain, *lane.probes) for n in b.numbers}
        pool = [p for p in self.pulls.values()
                if p.base == base and p.status == QUEUED and p.number not in busy and not p.held]
        return sorted(pool, key=queue_rank)

    def preempt(self, base: str) -> None:
        """A ready PR above every PR the lane is busy with (the running build AND the suspects it
        bisects) abandons that work. One group, one comparison: a bisection build preempted while
        its suspects stayed would be relaunched at once and preempted again, forever. With probes
        (`merge.parallel` > 1) only the chain counts: the bisection beside it holds up no ready PR."""
        lane = self.lane(base)
        if not self.cfg.preempt:
            return
        pool = self.ready(base)
        if not pool:
            return
        top = pool[0]
        # the builds that can still be abandoned: all but one already landing
        first = 1 if lane.build is not None and lane.build.state == LANDING else 0
        running = lane.chain[first:]
        # With probes (parallel > 1) a bisection runs beside the chain and blocks no ready PR: only the
        # chain is preempted, the known-bad groups stay (dropping them would only re-find them).
        probing = self.cfg.parallel > 1
        busy = {n for b in running for n in b.numbers} | (set() if probing else _known_bad(lane))
        if not busy or top.priority <= max(self.pulls[n].priority for n in busy):
            return
        reason = messages.preempted_reason(top.number, top.priority)
        if running:
            self.abort_from(lane, first, reason)
            lane = self.lane(base)
        if not probing and lane.suspects:
            self.lanes[base] = replace(lane, suspects=(), evidence=None)
        for n in sorted(busy):  # they are told: their report says why they are back in the queue
            if self.pulls[n].status == QUEUED:
                self.set(n, reason=reason)

    def start(self, base: str) -> None:
        """Start the lane's next build: bisect the suspects, confirm or reject a culprit, or batch;
        then, with `merge.parallel` > 1, stack speculative builds on it. Nothing starts while paused.

        With `merge.parallel` > 1 the suspects are bisected by probes beside the chain (`probe`), so the
        build on the tip is always a fresh batch."""
        probing = self.cfg.parallel > 1
        while self.lane(base).build is None:
            self.promote(base)
            lane = self.lane(base)
            if lane.paused is not None:
                if len(lane.suspects) == 1 and not strategy.should_confirm(
                        self.pulls[lane.suspects[0]].strikes, lane.confirmations, lane.flakes,
                        self.cfg.confirm_threshold) and not self.probing(lane):
                    self.reject(lane, lane.suspects[0])  # a verdict, not a build: it may come while paused
                    continue
                return
            if probing:
                if self.settle_suspect(base):
                    continue
                self.probe(base)
            elif len(lane.suspects) == 1:
                number = lane.suspects[0]
                pull = self.pulls[number]
                if strategy.should_confirm(pull.strikes, lane.confirmations, lane.flakes, self.cfg.confirm_threshold):
                    self.launch(base, (number,), confirm=True)
                else:
                    self.reject(lane, number)
                continue
            elif lane.suspects:
                tested, _ = strategy.split(lane.suspects)
                self.launch(base, tested)
                return
            lane = self.lane(base)
            pool = self.ready(base)
            if not pool or len(lane.probes) >= self.cfg.parallel:
                return
            size = strategy.batch_size(lane.recent, self.cfg.batch_size, self.cfg.adaptive, self.cfg.parallel)
            group = next_group(pool, size, self.cfg.batch_size)  # the rule queue_order follows too
            if len(group) == 1 and (pool[0].single or pool[0].alone_next):
                self.launch(base, group)
                return
            if len(group) < size and self.now < _batch_due(pool, self.cfg):
                return  # wait a moment for more PRs (a Tick at `next_wakeup` starts it)
            self.launch(base, group)
            break
        self.speculate(base)

    def speculate(self, base: str) -> None:
        """Stack builds on the last one in flight, up to `merge.parallel` (Zuul's speculative gating):
        each is the previous staging commit + the next ready PRs, so if everything below it lands, its
        own result stands for its own SHA. Not while paused, nor on top of a build whose commit is not
        built yet or which already failed (what is built on it is doomed). Probes take their slots
        first: a known-bad group is bisected beside the chain, which keeps landing fresh batches."""
        while True:
            self.promote(base)
            if self.settle_suspect(base):
                continue
            self.probe(base)
            lane = self.lane(base)
            chain = lane.chain
            if not chain or len(chain) + len(lane.probes) >= self.cfg.parallel or lane.paused is not None:
                return
            last = chain[-1]
            if last.sha is None or last.state == CREATING or _verdict(last, self.cfg)[0] == "red":
                return
            pool = self.ready(base)
            if not pool or pool[0].alone_next:
                return  # a PR that conflicted in a batch is built alone on the base tip, not stacked
            size = strategy.batch_size(lane.recent, self.cfg.batch_size, self.cfg.adaptive, self.cfg.parallel)
            group = next_group(pool, size, self.cfg.batch_size)
            if not pool[0].single and len(group) < size and self.now < _batch_due(pool, self.cfg):
                return
            self.launch(base, group, parent=last)

    def probing(self, lane: Lane) -> bool:
        """Is a probe testing part of the suspects?"""
        return any(n in lane.suspects for b in lane.probes for n in b.numbers)

    def settle_suspect(self, base: str) -> bool:
        """With probes: a lone suspect that is not under test and needs no confirmation run is rejected
        at once (a verdict, not a build: it need not wait for the builds in flight). True if it was."""
        lane = self.lane(base)
        if self.cfg.parallel < 2 or len(lane.suspects) != 1 or self.probing(lane):
            return False
        number = lane.suspects[0]
        if strategy.should_confirm(self.pulls[number].strikes, lane.confirmations, lane.flakes,
                                   self.cfg.confirm_threshold):
            return False
        self.reject(lane, number)
        return True

    def probe(self, base: str) -> None:
        """With `merge.parallel` > 1, bisect the suspects by probes: up to N - 1 parts of the group, each
        built alone on the base tip in a slot of its own, tested for information and never landed (the
        last part is inferred, as in the serial bisection). A lone suspect that must be confirmed is
        probed alone. The chain keeps at least one slot, so fresh batches land meanwhile.

        A green probe vets its PRs (they ride in a later batch without counting toward its size: they
        cost no run of their own); a red one makes its part the suspects (the rest goes back unjudged)."""
        lane = self.lane(base)
        if self.cfg.parallel < 2 or lane.paused is not None or not lane.suspects or self.probing(lane):
            return
        free = self.cfg.parallel - len(lane.chain) - len(lane.probes)
        if free < 1:
            return
        if len(lane.suspects) == 1:
            self.launch_probe(base, lane.suspects, confirm=True)
            return
        count = min(free, self.cfg.parallel - 1, len(lane.suspects) - 1)
        for part in strategy.parts(lane.suspects, count + 1)[:count]:
            self.launch_probe(base, part)

    def launch_probe(self, base: str, numbers: tuple[int, ...], confirm: bool = False) -> None:
        lane = self.lane(base)
        build = Build(
            id=self.new_id(),
            kind="probe",
            base=base,
            branch=staging_branch(base, self.free_slot(lane)),
            pulls=tuple(StagedPull(n, self.pulls[n].head_sha) for n in numbers),
            method=self.cfg.method,
            required=self.cfg.required_checks,
            requested_at=self.now,
            confirm=confirm,
        )
        self.lanes[base] = replace(lane, probes=(*lane.probes, build))
        self.actions.append(_create(self.repo, build))

    def free_slot(self, lane: Lane) -> int:
        """The lowest staging ref slot no build in flight uses (each build has its own ref)."""
        used = {b.branch for b in (*lane.chain, *lane.probes)}
        return next(k for k in range(len(used) + 1) if staging_branch(lane.base, k) not in used)

    def probe_done(self, probe: Build, verdict: str, failed: tuple[str, ...], urls: tuple[str, ...]) -> None:
        """A probe's verdict: green vets its PRs and clears them of suspicion, red narrows the suspects
        to its part (or parks it, when its group was already narrowed elsewhere)."""
        lane = self.lane(probe.base)
        lane = replace(lane, probes=tuple(b for b in lane.probes if b.id != probe.id))
        numbers = tuple(n for n in probe.numbers if self.pulls[n].status == QUEUED)
        ours = bool(numbers) and set(numbers) <= set(lane.suspects)
        if probe.confirm:
            lane = replace(lane, confirmations=lane.confirmations + 1, flakes=lane.flakes + (verdict == "green"))
        if verdict == "green":
            for n in numbers:
                self.set(n, vetted=True)
            if ours:
                suspects = tuple(n for n in lane.suspects if n not in numbers)
                lane = replace(lane, suspects=suspects, evidence=lane.evidence if suspects else None)
                self.lanes[probe.base] = lane
                if len(suspects) == 1 and not self.probing(lane):
                    self.set(suspects[0], strikes=self.pulls[suspects[0]].strikes + 1)  # inferred
                return
            self.lanes[probe.base] = lane
            return
        evidence = Evidence(probe.id, probe.sha or "", probe.numbers, failed, urls)
        if len(numbers) == 1:
            self.set(numbers[0], strikes=self.pulls[numbers[0]].strikes + 1)
        if ours:
            lane = replace(lane, suspects=numbers, evidence=evidence)
        elif numbers:
            lane = replace(lane, parked=(*lane.parked, BadGroup(numbers, evidence)))
        self.lanes[probe.base] = lane

    def launch(self, base: str, numbers: tuple[int, ...], confirm: bool = False, parent: Build | None = None) -> None:
        """Start a build on the base tip, or (speculative) on `parent`'s staging commit, on a free ref."""
        lane = self.lane(base)
        staged = tuple(StagedPull(n, self.pulls[n].head_sha) for n in numbers)
        build = Build(
            id=self.new_id(),
            kind="batch",
            base=base,
            branch=staging_branch(base, self.free_slot(lane)),
            pulls=staged,
            method=self.cfg.method,
            required=self.cfg.required_checks,
            requested_at=self.now,
            confirm=confirm,
            base_sha=parent.sha if parent is not None else lane.base_sha,
        )
        for n in numbers:
            self.set(n, status=TESTING, alone_next=False, reason="")
        if parent is None:
            self.lanes[base] = replace(lane, build=build)
        else:
            self.lanes[base] = replace(lane, ahead=(*lane.ahead, build))
        self.actions.append(_create(self.repo, build))

    # --- verdicts ----------------------------------------------------------------------------
    def on_checks(self, build: Build, index: int = 0) -> None:
        """Act on a build's verdict. A speculative build (`index` > 0) waits for the ones below it to
        land; a red one dooms only what is stacked on it (its own verdict counts once it is first)."""
        verdict, failed, urls = _verdict(build, self.cfg)
        if verdict == "pending":
            return
        if build.kind == "probe":
            self.probe_done(build, verdict, failed, urls)
            return
        if index > 0:
            if verdict == "red":
                self.abort_from(self.lane(build.base), index + 1, f"build {build.id} below it failed")
            return
        if build.kind == "try":
            self.try_done(build, verdict, failed, urls)
        elif verdict == "green":
            self.green(build)
        else:
            self.red(build, failed, urls)

    def green(self, build: Build) -> None:
        lane = self.lane(build.base)
        assert build.sha is not None and build.base_sha is not None
        self.lanes[build.base] = replace(lane, build=replace(build, state=LANDING), runs=lane.runs + 1)
        self.actions.append(_ff(self.repo, build))

    def landed(self, lane: Lane, sha: str) -> None:
        build = lane.build
        assert build is not None
        recent = list(lane.recent)
        for staged in build.pulls:
            pull = self.pulls[staged.number]
            if pull.status == TESTING and pull.head_sha == staged.head_sha:
                self.set(staged.number, status=MERGED, landed_sha=sha, reason="")
                recent.append(0)
                self.actions.append(MergePull(self.repo, staged.number, staged.head_sha, sha, build.method))
                self.actions.append(Dequeue(self.repo, staged.number, MERGED, f"landed in {sha}"))
                # no comment of its own: the PR's report comment says it (bot/queue/status.py)
                self.set(staged.number, reason=messages.landed_reason(build, sha, _judged(build, self.cfg)))
                if self.cfg.delete_branches and build.method != "merge":
                    # squash/rebase: the PR is closed with the landed SHA in its report, never merged.
                    # merge: GitHub marks it merged in the background, and a head deleted before that
                    # leaves it closed, not merged; the branch goes when `closed` (merged) arrives.
                    self.actions.append(DeleteBranch(self.repo, staged.number, staged.head_sha))
            else:  # pushed or closed while the fast-forward was in flight
                self.comment(staged.number, messages.landed_without_later_commits(staged.head_sha, build.base, sha))
        suspects, evidence = lane.suspects, lane.evidence
        confirmations, flakes = lane.confirmations, lane.flakes
        if build.confirm:
            confirmations, flakes = confirmations + 1, flakes + 1
        if suspects and set(build.numbers) <= set(suspects):
            suspects = tuple(n for n in suspects if n not in build.numbers)  # the rest holds the broken PR
            if len(suspects) == 1:
                self.set(suspects[0], strikes=self.pulls[suspects[0]].strikes + 1)
            if not suspects:
                evidence = None
        nxt = lane.ahead[0] if lane.ahead and lane.ahead[0].base_sha == sha else None
        if lane.ahead and nxt is None:  # cannot happen (each is built on the one before): rebuild them
            self.abort_from(lane, 1, f"not built on {sha}")
            lane = self.lane(lane.base)
        self.lanes[lane.base] = replace(
            lane,
            build=nxt,
            ahead=lane.ahead[1:] if nxt else (),
            base_sha=sha,
            suspects=suspects,
            evidence=evidence,
            recent=tuple(recent[-strategy.WINDOW:]),
            confirmations=confirmations,
            flakes=flakes,
        )
        if nxt is not None and nxt.state == RUNNING:
            self.on_checks(nxt)  # its checks may all be in already: it lands (or fails) right away

    def red(self, build: Build, failed: tuple[str, ...], urls: tuple[str, ...]) -> None:
        self.abort_from(self.lane(build.base), 1, f"build {build.id} below it failed")
        lane = self.lane(build.base)
        for n in build.numbers:
            if self.pulls[n].status == TESTING:
                self.set(n, status=QUEUED)
        numbers = tuple(n for n in build.numbers if self.pulls[n].status == QUEUED)
        evidence = Evidence(build.id, build.sha or "", build.numbers, failed, urls)
        confirmations = lane.confirmations + (1 if build.confirm else 0)
        unvetted = tuple(n for n in numbers if not self.pulls[n].vetted)
        for n in numbers:
            self.set(n, vetted=False)  # vetted on an older tip (or by a flake): it counts again next time
        if unvetted:
            numbers = unvetted  # the vetted ones passed a probe: the broken PR is among the others
        if lane.suspects and numbers and not set(numbers) <= set(lane.suspects):
            # Fresh PRs landing beside an open bisection failed: known bad too. The group waits its turn
            # rather than wiping the bisection (whose suspects would go back unjudged).
            if len(numbers) == 1:
                self.set(numbers[0], strikes=self.pulls[numbers[0]].strikes + 1)
            self.lanes[build.base] = replace(lane, build=None, parked=(*lane.parked, BadGroup(numbers, evidence)),
                                             confirmations=confirmations, runs=lane.runs + 1)
            return
        # The tested group is known bad; the untested rest of the old suspects returns unjudged.
        suspects = numbers
        if len(suspects) == 1:
            self.set(suspects[0], strikes=self.pulls[suspects[0]].strikes + 1)
        self.lanes[build.base] = replace(
            lane, build=None, suspects=suspects, evidence=evidence, confirmations=confirmations, runs=lane.runs + 1
        )

    def reject(self, lane: Lane, number: int) -> None:
        ev = lane.evidence
        reason, body = messages.rejection(number, self.pulls[number].strikes, ev)
        self.finish(number, FAILED, reason, body)
        self.set(number, failed_checks=ev.failed if ev else ())
        lane = self.lane(lane.base)
        self.lanes[lane.base] = replace(
            lane, suspects=(), evidence=None, recent=(*lane.recent, 1)[-strategy.WINDOW:]
        )

    def try_done(self, build: Build, verdict: str, failed: tuple[str, ...], urls: tuple[str, ...]) -> None:
        number = build.pulls[0].number
        self.tries.pop(number, None)
        self.comment(number, messages.try_result(build, verdict == "green", failed, _judged(build, self.cfg)))

    # --- timeouts ------------------------------------------------------------------------------
    def check_timeouts(self, base: str) -> None:
        for probe in self.lane(base).probes:
            if probe.state == CREATING and self.now - probe.requested_at >= self.cfg.start_timeout_minutes * 60:
                self.put_probe(base, replace(probe, requested_at=self.now))
                self.actions.append(_create(self.repo, probe))
            elif probe.state == RUNNING:
                failed = self.timeouts(probe)
                if failed:
                    self.probe_done(probe, "red", failed, ())
        lane = self.lane(base)
        for index, spec in enumerate(lane.ahead, start=1):
            if spec.state == CREATING and self.now - spec.requested_at >= self.cfg.start_timeout_minutes * 60:
                self.put_build(base, index, replace(spec, requested_at=self.now))
                self.actions.append(_create(self.repo, spec))
        lane = self.lane(base)
        build = lane.build
        if build is None:
            return
        if build.state in (CREATING, LANDING):
            if self.now - build.requested_at >= self.cfg.start_timeout_minutes * 60:
                # the executor never answered (crash, lost job): ask again, it is idempotent
                self.lanes[base] = replace(lane, build=replace(build, requested_at=self.now))
                self.actions.append(_create(self.repo, build) if build.state == CREATING else _ff(self.repo, build))
            return
        failed = self.timeouts(build)
        if failed:
            self.red(build, failed, ())

    def check_try_timeouts(self, number: int) -> None:
        build = self.tries[number]
        if build.state == RUNNING:
            failed = self.timeouts(build)
            if failed:
                self.try_done(build, "red", failed, ())

    def timeouts(self, build: Build) -> tuple[str, ...]:
        if build.created_at is None:
            return ()
        waited = self.now - build.created_at
        judged = _judged(build, self.cfg)
        missing = [n for n in build.required if judged[n].state == GateState.MISSING]
        running = [n for n in build.required if judged[n].state == GateState.PENDING]
        if missing and waited >= self.cfg.start_timeout_minutes * 60:
            return tuple(messages.not_started(n, self.cfg.start_timeout_minutes, judged[n].notes) for n in missing)
        if (missing or running) and waited >= self.cfg.timeout_minutes * 60:
            return tuple(messages.not_finished(n, self.cfg.timeout_minutes) for n in missing + running)
        return ()


def _known_bad(lane: Lane) -> set[int]:
    """The PRs of the group under bisection and of the parked ones: never batched with fresh PRs."""
    return {*lane.suspects, *(n for g in lane.parked for n in g.numbers)}


def _batch_due(pool: list[Pull], cfg: QueueConfig) -> float:
    return min(p.queued_at for p in pool) + cfg.batch_delay_seconds


def next_wakeup(state: QueueState, config: QueueConfig) -> float | None:
    """The earliest time at which a `Tick` can change something (a batch delay or a timeout ends)."""
    times: list[float] = []
    for lane in state.lanes:
        build = lane.build
        room = build is None or (len(lane.chain) < config.parallel and lane.chain[-1].sha is not None)
        if room and not lane.suspects and lane.paused is None:
            busy = {n for b in lane.chain for n in b.numbers}
            pool = [p for p in state.pulls
                    if p.base == lane.base and p.status == QUEUED and not p.held and p.number not in busy]
            if pool and config.batch_delay_seconds:
                times.append(_batch_due(pool, config))
        if build is not None:
            times += _build_deadlines(build, config)
        times += [b.requested_at + config.start_timeout_minutes * 60 for b in lane.ahead if b.state == CREATING]
        for probe in lane.probes:
            times += _build_deadlines(probe, config)
    for build in state.tries:
        times += _build_deadlines(build, config)
    return min(times) if times else None


def _build_deadlines(build: Build, cfg: QueueConfig) -> list[float]:
    if build.state in (CREATING, LANDING):
        return [build.requested_at + cfg.start_timeout_minutes * 60]
    assert build.created_at is not None
    return [build.created_at + cfg.start_timeout_minutes * 60, build.created_at + cfg.timeout_minutes * 60]


def _judged(build: Build, cfg: QueueConfig) -> dict[str, Judgement]:
    """Every required name of the build, judged by the check rule."""
    return {name: cfg.judge(name, build.checks) for name in build.required}


def _verdict(build: Build, cfg: QueueConfig) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """("green" | "red" | "pending", failed checks, their links). Red as soon as one fails."""
    judged = _judged(build, cfg)
    failed = [(n, j) for n, j in judged.items() if j.state.blocking]
    if failed:
        return ("red", tuple(f"{n}: {j.reason or 'no conclusion'}" for n, j in failed),
                tuple(j.deciding.url for _, j in failed if j.deciding and j.deciding.url))
    if all(j.passed for j in judged.values()):
        return "green", (), ()
    return "pending", (), ()


def _create(repo: str, build: Build) -> CreateStaging:
    return CreateStaging(repo, build.base, build.base_sha, build.branch, build.id, build.pulls, build.method,
                         build.kind)


def _ff(repo: str, build: Build) -> FastForward:
    assert build.base_sha is not None and build.sha is not None
    return FastForward(repo, build.base, build.base_sha, build.sha, build.id, build.numbers, build.required)


# ---------------------------------------------------------------------------------------------
# Event handlers (each mutates the working copy)


def _on_merge(tx: _Tx, e: MergeRequested) -> None:
    pull = tx.pulls.get(e.number)
    if pull and pull.status in ACTIVE and pull.head_sha == e.head_sha:
        if e.priority is not None and e.priority != pull.priority:
            tx.set(e.number, priority=e.priority)
        tx.comment(e.number, messages.already_queued(pull.status))
        return
    if pull and pull.status == MERGED and pull.head_sha == e.head_sha:
        tx.comment(e.number, messages.already_landed(pull.landed_sha))
        return
    if tx.refuse(e.number, e.base, "Not queued"):
        return
    if pull and pull.status in ACTIVE:  # a new head: the old entry is replaced
        tx.finish(e.number, CANCELLED, "re-queued with a new head", None)
    tx.enqueue(e.number, e.base, e.head_sha, e.user, e.priority, e.gates, e.reasons, "Merge requested")


def _on_gates(tx: _Tx, e: PullGates) -> None:
    pull = tx.pulls.get(e.number)
    if pull and pull.status in ACTIVE and pull.head_sha == e.head_sha:
        tx.gates(e.number, e.conclusion, e.reasons)


def _on_push(tx: _Tx, e: HeadPushed) -> None:
    pull = tx.pulls.get(e.number)
    if pull and pull.head_sha != e.head_sha:
        tx.tries.pop(e.number, None)
        if pull.status in ACTIVE:
            reason = messages.pushed_reason(e.head_sha)
            tx.finish(e.number, CANCELLED, reason, messages.pushed(reason, pull.head_sha))
        tx.set(e.number, head_sha=e.head_sha, vetted=False)  # what a probe passed was the old head


def _on_closed(tx: _Tx, e: PullClosed) -> None:
    pull = tx.pulls.get(e.number)
    tx.tries.pop(e.number, None)
    if pull and pull.status in ACTIVE:
        reason = "merged outside the queue" if e.merged else "the PR was closed"
        tx.finish(e.number, CANCELLED, reason, None)
    elif pull and pull.status == MERGED and e.merged and tx.cfg.delete_branches:
        # GitHub now shows the PR the queue landed as merged: its head branch may go.
        tx.actions.append(DeleteBranch(tx.repo, e.number, pull.head_sha))


def _on_cancel(tx: _Tx, e: CancelRequested) -> None:
    pull = tx.pulls.get(e.number)
    try_build = tx.tries.pop(e.number, None)
    if try_build:
        tx.actions.append(CancelBuild(tx.repo, try_build.id, try_build.sha, f"/cancel by {e.user}"))
    if pull and pull.status in ACTIVE:
        tx.finish(e.number, CANCELLED, f"/cancel by {e.user}", messages.cancelled_by(e.user))
    elif try_build:
        tx.comment(e.number, messages.try_cancelled(e.user))
    elif not try_build:
        tx.comment(e.number, messages.NOTHING_TO_CANCEL)


def _on_retry(tx: _Tx, e: RetryRequested) -> None:
    pull = tx.pulls.get(e.number)
    if pull and pull.status in ACTIVE:
        tx.comment(e.number, messages.already_queued(pull.status))
        return
    if pull is None or pull.status not in (FAILED, CANCELLED):
        tx.comment(e.number, messages.NOTHING_TO_RETRY)
        return
    if tx.refuse(e.number, e.base, "Not re-queued"):
        return
    tx.enqueue(e.number, e.base, e.head_sha, e.user, None, e.gates, e.reasons, "Retry")


def _on_priority(tx: _Tx, e: PriorityChanged) -> None:
    pull = tx.pulls.get(e.number) or Pull(e.number)
    tx.pulls[e.number] = replace(pull, priority=e.priority)
    # no comment: the command's reply says it (bot/commands/plan.py), the report shows the new place


def _on_single(tx: _Tx, e: SingleChanged) -> None:
    pull = tx.pulls.get(e.number) or Pull(e.number)
    tx.pulls[e.number] = replace(pull, single=e.on)
    lane = tx.lanes.get(pull.base)
    index = tx.position(pull.base, e.number) if lane and pull.status == TESTING else None
    if e.on and lane and index is not None and len(lane.chain[index].numbers) > 1:
        tx.abort_holding(pull.base, e.number, f"#{e.number} must now be tested alone")
    if e.on and lane and any(e.number in g and len(g) > 1 for g in (lane.suspects, *(b.numbers for b in lane.parked))):
        tx.drop_suspect(pull.base, e.number)


def _on_hold(tx: _Tx, e: HoldChanged) -> None:
    pull = tx.pulls.get(e.number) or Pull(e.number)
    if pull.held == e.on:
        tx.comment(e.number, messages.hold_unchanged(e.on))
        return
    tx.pulls[e.number] = replace(pull, held=e.on, held_by=e.user if e.on else "")
    if e.on and pull.status == TESTING:
        if tx.landing(pull):
            tx.comment(e.number, messages.held_too_late())
            return
        tx.abort_holding(pull.base, e.number, f"#{e.number} was put on hold by {e.user}")
    if e.on:
        tx.drop_suspect(pull.base, e.number)
    tx.comment(e.number, messages.held(e.user) if e.on else messages.unheld(e.user, pull.status in ACTIVE))


def _on_pause(tx: _Tx, e: PauseChanged) -> None:
    if e.base not in tx.cfg.branches:
        if e.number:
            tx.comment(e.number, messages.base_not_allowed("Not paused" if e.on else "Not resumed", e.base,
                                                           tx.cfg.branches))
        return
    lane = tx.lane(e.base)
    if e.on:
        tx.lanes[e.base] = replace(lane, paused=e.reason, paused_by=e.user, paused_at=tx.now)
        running = len([b for b in lane.chain if b.kind == "batch"])
        if e.number:
            tx.comment(e.number, messages.paused(e.base, e.user, e.reason, running, lane.paused is not None))
    else:
        tx.lanes[e.base] = replace(lane, paused=None, paused_by="", paused_at=0.0)
        if e.number:
            tx.comment(e.number, messages.resumed(e.base, e.user, lane.paused is not None))


def _on_try(tx: _Tx, e: TryRequested) -> None:
    if tx.refuse(e.number, e.base, "No try build"):
        return
    old = tx.tries.pop(e.number, None)
    if old:
        tx.actions.append(CancelBuild(tx.repo, old.id, old.sha, "replaced by a new /try"))
    build = Build(
        id=tx.new_id(),
        kind="try",
        base=e.base,
        branch=try_branch(e.number),
        pulls=(StagedPull(e.number, e.head_sha),),
        method=tx.cfg.method,
        required=tx.cfg.required_checks,
        requested_at=tx.now,
        requested_by=e.user,
    )
    tx.tries[e.number] = build
    tx.actions.append(_create(tx.repo, build))
    tx.comment(e.number, messages.trying(e.head_sha, e.base, build.branch))


def _on_created(tx: _Tx, e: StagingCreated) -> None:
    found = tx.find_build(e.build_id)
    if found and found[1] > 0 and found[2].state == CREATING:
        lane, index, spec = found
        if e.base_sha != spec.base_sha:  # not on the staging commit below it: its result would prove nothing
            tx.abort_from(lane, index, f"built on {e.base_sha}, not on {spec.base_sha}")
            return
        tx.put_build(lane.base, index, replace(spec, sha=e.sha, created_at=tx.now, state=RUNNING))
        return
    head = found[0] if found and found[1] == 0 else None
    if head and head.build and head.build.state == CREATING:
        build = replace(head.build, sha=e.sha, base_sha=e.base_sha, created_at=tx.now, state=RUNNING)
        tx.lanes[head.base] = replace(head, build=build, base_sha=e.base_sha)
        return
    probe = tx.find_probe(e.build_id)
    if probe and probe.state == CREATING:
        tx.put_probe(probe.base, replace(probe, sha=e.sha, base_sha=e.base_sha, created_at=tx.now, state=RUNNING))
        return
    tried = tx.try_of_build(e.build_id)
    if tried and tried.state == CREATING:
        tx.tries[tried.pulls[0].number] = replace(tried, sha=e.sha, base_sha=e.base_sha, created_at=tx.now,
                                                  state=RUNNING)


def _on_staging_failed(tx: _Tx, e: StagingFailed) -> None:
    build = tx.try_of_build(e.build_id)
    if build:
        number = build.pulls[0].number
        tx.tries.pop(number)
        tx.comment(number, messages.try_not_created(e.reason))
        return
    probe = tx.find_probe(e.build_id)
    if probe and probe.state == CREATING:
        tx.drop_probes(probe.base, lambda b: b.id == probe.id, f"the staging commit could not be built: {e.reason}")
        if e.number is not None and e.number in probe.numbers:
            if len(probe.numbers) == 1:  # it does not merge into the base: as for a build on the tip
                reason = messages.conflict_reason(probe.base, e.reason)
                tx.finish(e.number, FAILED, reason, messages.conflict(reason, probe.base))
                return
            tx.set(e.number, alone_next=True)
            tx.drop_suspect(probe.base, e.number)  # its group is no longer a clean bisection: unjudged
        return
    found = tx.find_build(e.build_id)
    if not found or found[2].state != CREATING:
        return
    lane, index, build = found
    if index > 0:  # speculative: it may conflict with a build below it; it is built alone on the tip later
        if e.number is not None and e.number in build.numbers:
            tx.set(e.number, alone_next=True)
        tx.abort_from(lane, index, f"the staging commit could not be built: {e.reason}")
        return
    if e.number is not None and e.number in build.numbers:
        if len(build.numbers) == 1:
            tx.abort_build(lane, "merge conflict")
            reason = messages.conflict_reason(build.base, e.reason)
            tx.finish(e.number, FAILED, reason, messages.conflict(reason, build.base))
            return
        tx.set(e.number, alone_next=True)  # it may conflict with a batch-mate, not the base: try alone
    tx.abort_build(lane, f"the staging commit could not be built: {e.reason}")
    tx.drop_suspect(build.base, e.number if e.number is not None else -1)


def _on_check(tx: _Tx, e: CheckUpdate) -> None:
    result = Report(e.name, e.status, e.conclusion, e.url, tx.now, e.kind, e.app, e.report_id, e.results)
    for base in sorted(tx.lanes):
        for index, build in enumerate(tx.lanes[base].chain):
            if build.state == RUNNING and build.sha == e.sha and e.name in build.required:
                build = _with_check(build, result)
                tx.put_build(base, index, build)
                tx.on_checks(build, index)
                break
    for base in sorted(tx.lanes):
        for probe in tx.lanes[base].probes:
            if probe.state == RUNNING and probe.sha == e.sha and e.name in probe.required:
                probe = _with_check(probe, result)
                tx.put_probe(base, probe)
                tx.on_checks(probe)
                break
    for number, build in list(tx.tries.items()):
        if build.state == RUNNING and build.sha == e.sha and e.name in build.required:
            build = _with_check(build, result)
            tx.tries[number] = build
            tx.on_checks(build)


def _with_check(build: Build, result: Report) -> Build:
    """Keep every source's newest report (per app, per status context): the rule needs them all, so a
    commit status never overwrites a check run of the same name, nor one app's run another's."""
    return replace(build, checks=tuple(latest_per_source((*build.checks, result))))


def _on_ff_done(tx: _Tx, e: FastForwardDone) -> None:
    lane = tx.lane_of_build(e.build_id)
    if lane and lane.build and lane.build.id == e.build_id and lane.build.state == LANDING:
        if e.sha == lane.build.sha:
            tx.landed(lane, e.sha)
        else:
            _on_ff_refused(tx, FastForwardRefused(e.build_id, f"the base is at {e.sha}", e.sha))


def _on_ff_refused(tx: _Tx, e: FastForwardRefused) -> None:
    lane = tx.lane_of_build(e.build_id)
    if not lane or not lane.build or lane.build.id != e.build_id or lane.build.state != LANDING:
        return
    if e.base_sha is not None and e.base_sha == lane.build.base_sha:
        # The base did not move, so GitHub refused for another reason (branch protection, a rule, a
        # permission): rebuilding would test the same thing forever. It stays landing; the fast-forward
        # is asked again after merge.start_timeout_minutes (the runner logs GitHub's answer).
        return
    tx.abort_from(lane, 1, "the base moved under the build below it")
    lane = tx.lane(lane.base)
    old = lane.build
    assert old is not None
    # The same PRs again on the new tip: a green result on another base proves nothing.
    build = replace(old, id=tx.new_id(), state=CREATING, base_sha=e.base_sha, sha=None, created_at=None, checks=(),
                    requested_at=tx.now)
    tx.lanes[lane.base] = replace(lane, build=build, base_sha=e.base_sha, runs=lane.runs - 1)
    tx.actions.append(_create(tx.repo, build))


def _on_base_moved(tx: _Tx, e: BaseMoved) -> None:
    lane = tx.lanes.get(e.base)
    if lane is None:
        if e.base in tx.cfg.branches:
            tx.lanes[e.base] = Lane(e.base, base_sha=e.sha)
        return
    build = lane.build
    if build and build.state == LANDING and e.sha == build.sha:
        tx.landed(lane, e.sha)  # our own fast-forward, seen before its confirmation
        return
    if e.sha == lane.base_sha:
        return
    tx.lanes[e.base] = replace(lane, base_sha=e.sha, suspects=(), evidence=None, parked=())
    tx.drop_probes(e.base, lambda b: True, f"{e.base} moved to {e.sha}")
    if build and build.state == RUNNING and build.base_sha != e.sha:
        tx.abort_build(tx.lane(e.base), f"{e.base} moved to {e.sha}")
    elif build and build.state == CREATING:
        # its base is unknown until StagingCreated; rebuild on the new tip to be sure
        tx.abort_build(tx.lane(e.base), f"{e.base} moved to {e.sha}")


def _on_tick(tx: _Tx, e: Tick) -> None:
    pass


def _on_resume(tx: _Tx, e: Resume) -> None:
    for base in sorted(tx.lanes):
        for build in tx.lanes[base].chain:
            if build.state == CREATING:
                tx.actions.append(_create(tx.repo, build))
            elif build.state == LANDING:
                tx.actions.append(_ff(tx.repo, build))
        for probe in tx.lanes[base].probes:
            if probe.state == CREATING:
                tx.actions.append(_create(tx.repo, probe))
    for number in sorted(tx.tries):
        if tx.tries[number].state == CREATING:
            tx.actions.append(_create(tx.repo, tx.tries[number]))


_HANDLERS: dict[type, Any] = {
    MergeRequested: _on_merge,
    PullGates: _on_gates,
    HeadPushed: _on_push,
    PullClosed: _on_closed,
    CancelRequested: _on_cancel,
    RetryRequested: _on_retry,
    PriorityChanged: _on_priority,
    SingleChanged: _on_single,
    HoldChanged: _on_hold,
    PauseChanged: _on_pause,
    TryRequested: _on_try,
    StagingCreated: _on_created,
    StagingFailed: _on_staging_failed,
    CheckUpdate: _on_check,
    FastForwardDone: _on_ff_done,
    FastForwardRefused: _on_ff_refused,
    BaseMoved: _on_base_moved,
    Tick: _on_tick,
    Resume: _on_resume,
}
