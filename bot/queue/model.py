"""The merge queue's plain data: its configuration, state, events and actions. No behaviour but queries.

Everything is a frozen dataclass, so a state can be compared, hashed into a test's expectations
and stored as JSON (`mlgate.bot.queue.codec`). `transitions.step` turns (state, event) into
(state, actions); the handlers make events from what GitHub tells them, and the runner carries
out the actions (bot/queue/runner.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from mlgate.bot.pr.check_rule import Judgement, Report, Results, is_gate, judge
from mlgate.checks.config.models import MlgateConfig
from mlgate.names import GATE_PREFIX, SUMMARY_CHECK

# Pull statuses
IDLE = "idle"  # known (priority/single set) but never queued
WAITING = "waiting"  # /merge given; review or PR gates pending or failing
QUEUED = "queued"  # ready, waiting for a build
TESTING = "testing"  # in the running build of its base
MERGED = "merged"
FAILED = "failed"
CANCELLED = "cancelled"
ACTIVE = frozenset({WAITING, QUEUED, TESTING})
FINAL = frozenset({MERGED, FAILED, CANCELLED})

# Build states
CREATING = "creating"  # CreateStaging emitted, staging SHA not known yet
RUNNING = "running"  # staging SHA known, waiting for the required checks
LANDING = "landing"  # all green, FastForward emitted


# ---------------------------------------------------------------------------------------------
# Configuration


class QueueKnobs(TypedDict, total=False):
    """Settings of `merge:` the bot may override for every repository (tests, the demo and the
    benchmark shorten the batch delay)."""

    batch_delay_seconds: float
    adaptive: bool
    confirm_threshold: float
    parallel: int


@dataclass(frozen=True)
class QueueConfig:
    """What the queue needs from `merge:` (`from_mlgate`), plus the strategy's knobs.

    `batch_size` is a ceiling: with `adaptive` the batch follows the recent failure rate.
    `confirm_threshold`: re-run a singled-out PR alone while at least this share of such re-runs
    came back green (0: always, above 1: never). `pins` and `config_sha256` are what the check rule
    needs (bot/pr/check_rule.py): who may report each required name, and the config a gate result
    must have been computed with.
    """

    branches: tuple[str, ...] = ("main",)
    method: str = "merge"
    batch_size: int = 5
    timeout_minutes: float = 120
    start_timeout_minutes: float = 15
    required_checks: tuple[str, ...] = ()
    delete_branches: bool = False
    preempt: bool = True
    adaptive: bool = True
    confirm_threshold: float = 0.1
    batch_delay_seconds: float = 0.0  # a fresh batch waits this long for more /merge (bors-ng's batch_delay)
    parallel: int = 1  # builds tested at once per base: each further one stacked on the previous staging commit
    pins: tuple[tuple[str, str], ...] = ()  # (required name, the only app that may report it)
    config_sha256: str | None = None  # "sha256:<hex>" of the base config: what a gate result must carry

    def __post_init__(self) -> None:
        if self.method not in ("merge", "squash", "rebase"):
            raise ValueError(f"merge.method must be merge, squash or rebase, not {self.method!r}")
        if self.batch_size < 1:
            raise ValueError(f"merge.batch_size must be at least 1, not {self.batch_size}")
        if self.parallel < 1:
            raise ValueError(f"merge.parallel must be at least 1, not {self.parallel}")

    @classmethod
    def from_mlgate(cls, cfg: MlgateConfig, *, config_sha256: str | None = None, gate_app: str | None = None,
                    knobs: QueueKnobs | None = None) -> QueueConfig:
        """From a `mlgate.checks.config.models.MlgateConfig`: required = merge.required_checks + mlgate/<gate>.

        The summary check `mlgate` is left out: it is computed for PR heads, never for staging.
        Pins: a required check's `app`, and `merge.gate_app` for `mlgate/<gate>` (as on PR heads),
        else `gate_app` (the bot's own setting). Pass `config_sha256` (the config file's hash):
        without it no gate result is trusted. `knobs` override the strategy's settings of `merge:`.
        """
        names: list[str] = []
        pins: dict[str, str] = {}
        for item in cfg.merge.required_checks:
            name = item if isinstance(item, str) else item.name
            names.append(name)
            app = None if isinstance(item, str) else item.app
            if app and name not in pins:
                pins[name] = app
        names += [f"{GATE_PREFIX}{g}" for g in cfg.merge_gates()]  # not the deployment gates (shadow)
        required = tuple(n for n in dict.fromkeys(names) if n != SUMMARY_CHECK)
        pinned_gates = cfg.merge.gate_app or gate_app
        if pinned_gates:
            for name in required:
                if is_gate(name):
                    pins.setdefault(name, pinned_gates)
        m = cfg.merge
        knobs = knobs or {}
        return cls(
            branches=tuple(m.branches),
            method=m.method,
            batch_size=m.batch_size,
            timeout_minutes=m.timeout_minutes,
            start_timeout_minutes=m.start_timeout_minutes,
            required_checks=required,
            delete_branches=m.delete_branches,
            preempt=m.preempt,
            pins=tuple(sorted(pins.items())),
            config_sha256=config_sha256,
            batch_delay_seconds=knobs.get("batch_delay_seconds", m.batch_delay_seconds),
            adaptive=knobs.get("adaptive", m.adaptive),
            confirm_threshold=knobs.get("confirm_threshold", m.confirm_threshold),
            parallel=knobs.get("parallel", m.parallel),
        )

    def judge(self, name: str, reports: tuple[Report, ...]) -> Judgement:
        """The check rule for one required name on a staging/try commit."""
        return judge(name, reports, pinned_app=dict(self.pins).get(name), config_sha256=self.config_sha256)


# ---------------------------------------------------------------------------------------------
# State (plain data)


@dataclass(frozen=True)
class StagedPull:
    number: int
    head_sha: str


CheckResult = Report  # one report of a required check on a staging/try SHA (bot/pr/check_rule.py)


@dataclass(frozen=True)
class Pull:
    """One PR the queue knows. `reason`: why it waits, failed or was cancelled (plain text)."""

    number: int
    base: str = ""
    head_sha: str = ""
    status: str = IDLE
    priority: int = 0
    single: bool = False
    seq: int = 0  # order of /merge: ties in priority go by it
    queued_at: float = 0.0
    requested_by: str = ""
    reason: str = ""
    landed_sha: str | None = None
    strikes: int = 0  # red runs that singled it out (the flaky-failure budget)
    alone_next: bool = False  # conflicted inside a batch: next time it is built alone
    held: bool = False  # /hold: kept out of every new build until /unhold (its place in line is kept)
    held_by: str = ""
    failed_checks: tuple[str, ...] = ()
    vetted: bool = False  # passed in a bisection probe: rides in a batch without counting toward its size


@dataclass(frozen=True)
class Build:
    """A staging (kind "batch"), bisection probe (kind "probe": a part of the suspects on the base tip,
    tested for information and never landed) or try (kind "try") commit and what is known about its checks."""

    id: int
    kind: str
    base: str
    branch: str
    pulls: tuple[StagedPull, ...]
    method: str
    required: tuple[str, ...]
    requested_at: float
    state: str = CREATING
    base_sha: str | None = None
    sha: str | None = None
    created_at: float | None = None
    checks: tuple[CheckResult, ...] = ()
    confirm: bool = False  # a singled-out PR re-run alone before it is rejected
    requested_by: str = ""

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(p.number for p in self.pulls)


@dataclass(frozen=True)
class Evidence:
    """The red run that made the lane's suspects known-bad: cited when a PR is rejected."""

    build_id: int
    sha: str
    numbers: tuple[int, ...]
    failed: tuple[str, ...]  # "name: conclusion" or a timeout sentence
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class BadGroup:
    """A group a red run proved to hold a broken PR, parked while the lane bisects another one
    (`Lane.suspects`): bisected in its turn, never re-batched with fresh PRs."""

    numbers: tuple[int, ...]
    evidence: Evidence


@dataclass(frozen=True)
class Lane:
    """The queue of one base branch: its tip, running builds, bisection state, pause and statistics.

    `build` is tested on the base tip and lands first; with `merge.parallel` > 1, `ahead` holds the
    speculative builds, each built on the staging commit of the one before it (`build`, then
    `ahead[0]`, ...). They land in that order, each by fast-forward to its own tested SHA.
    `paused`: `/pause` reason (None: running); no build starts while it is set.
    With `merge.parallel` > 1 a known-bad group is bisected by `probes`: parts of it built on the tip
    in slots of their own, never landed; the other slots keep landing fresh batches meanwhile.
    """

    base: str
    base_sha: str | None = None
    build: Build | None = None
    ahead: tuple[Build, ...] = ()
    suspects: tuple[int, ...] = ()  # a group known to hold a broken PR (in test order)
    evidence: Evidence | None = None
    parked: tuple[BadGroup, ...] = ()  # more known-bad groups, bisected after `suspects`, oldest first
    probes: tuple[Build, ...] = ()  # parts of the suspects tested on the tip beside the chain (parallel > 1)
    recent: tuple[int, ...] = ()  # 1 = a PR was rejected, 0 = landed; newest last
    confirmations: int = 0
    flakes: int = 0
    runs: int = 0  # staging builds that got a verdict
    paused: str | None = None  # why the lane is paused (/pause BASE reason), None while it runs
    paused_by: str = ""
    paused_at: float = 0.0

    @property
    def chain(self) -> tuple[Build, ...]:
        """The builds in flight, in landing order: `build`, then the speculative ones stacked on it."""
        return (self.build, *self.ahead) if self.build is not None else ()


@dataclass(frozen=True)
class QueueState:
    repo: str
    pulls: tuple[Pull, ...] = ()
    lanes: tuple[Lane, ...] = ()
    tries: tuple[Build, ...] = ()
    next_id: int = 1
    next_seq: int = 1

    def pull(self, number: int) -> Pull | None:
        return next((p for p in self.pulls if p.number == number), None)

    def lane(self, base: str) -> Lane | None:
        return next((lane for lane in self.lanes if lane.base == base), None)


# ---------------------------------------------------------------------------------------------
# Events (what the handlers learnt)


@dataclass(frozen=True)
class MergeRequested:
    """`/merge [p=N]` from someone allowed. `gates`: success, pending or failure for the head."""

    number: int
    base: str
    head_sha: str
    user: str
    priority: int | None = None
    gates: str = "pending"
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullGates:
    """The PR's review and PR-level checks on `head_sha`: success, pending or failure (with reasons)."""

    number: int
    head_sha: str
    conclusion: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeadPushed:
    number: int
    head_sha: str


@dataclass(frozen=True)
class PullClosed:
    number: int
    merged: bool = False


@dataclass(frozen=True)
class CancelRequested:
    number: int
    user: str


@dataclass(frozen=True)
class RetryRequested:
    number: int
    user: str
    head_sha: str
    base: str
    gates: str = "pending"
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class PriorityChanged:
    number: int
    priority: int
    user: str = ""


@dataclass(frozen=True)
class SingleChanged:
    number: int
    on: bool
    user: str = ""


@dataclass(frozen=True)
class HoldChanged:
    """`/hold` (on) or `/unhold` (off): keep one PR out of every new build. Permission checked by the handler."""

    number: int
    on: bool
    user: str = ""


@dataclass(frozen=True)
class PauseChanged:
    """`/pause BASE [reason]` (on) or `/resume BASE` (off), by someone with maintain permission (checked
    by the handler). `number`: the PR the command was given on (the queue answers there), 0: none."""

    base: str
    on: bool
    user: str = ""
    reason: str = ""
    number: int = 0


@dataclass(frozen=True)
class TryRequested:
    number: int
    base: str
    head_sha: str
    user: str


@dataclass(frozen=True)
class StagingCreated:
    """The executor built the commit of `build_id`: `sha`, on top of `base_sha`.

    Feed the checks already reported on `sha` right after (CI may be faster than the webhook).
    """

    build_id: int
    sha: str
    base_sha: str


@dataclass(frozen=True)
class StagingFailed:
    """The commit could not be built: `number` did not merge cleanly, or (None) something else."""

    build_id: int
    number: int | None
    reason: str


@dataclass(frozen=True)
class CheckUpdate:
    """A check run or status on `sha`: who reported it (`kind`, `app`, `report_id`) and, for a gate
    run, what its results JSON says (`results`, read by the handler). The queue judges them with
    the check rule, exactly as a PR head is judged."""

    sha: str
    name: str
    status: str
    conclusion: str | None = None
    url: str | None = None
    kind: str = "check_run"
    app: str | None = None
    report_id: int | None = None
    results: Results | None = None


@dataclass(frozen=True)
class FastForwardDone:
    build_id: int
    sha: str


@dataclass(frozen=True)
class FastForwardRefused:
    """GitHub refused the non-force update: the base moved (`base_sha` its tip, if known)."""

    build_id: int
    reason: str = ""
    base_sha: str | None = None


@dataclass(frozen=True)
class BaseMoved:
    """A push to a base branch (ours or someone else's)."""

    base: str
    sha: str


@dataclass(frozen=True)
class Tick:
    """Time passed: timeouts are checked and idle lanes start builds (also done on every event)."""


@dataclass(frozen=True)
class Resume:
    """After a restart: re-emit the actions in flight (CreateStaging, FastForward); all idempotent."""


Event = (
    MergeRequested
    | PullGates
    | HeadPushed
    | PullClosed
    | CancelRequested
    | RetryRequested
    | PriorityChanged
    | SingleChanged
    | HoldChanged
    | PauseChanged
    | TryRequested
    | StagingCreated
    | StagingFailed
    | CheckUpdate
    | FastForwardDone
    | FastForwardRefused
    | BaseMoved
    | Tick
    | Resume
)


# ---------------------------------------------------------------------------------------------
# Actions (what the executor must do)


@dataclass(frozen=True)
class CreateStaging:
    """Build a commit on `base_sha` (None: the current tip) with each PR applied in order, and force
    `branch` to it; report `StagingCreated` (with the base SHA used) or `StagingFailed`.

    method "merge": one merge commit per PR (parents: the commit so far, the PR head).
    "squash": one commit per PR, its tree = the merge of the PR head, parent = the commit so far.
    "rebase": each PR's commits replayed onto the commit so far.
    Idempotent: doing it twice for one `build_id` must report the same SHA or a new one, never both.
    """

    repo: str
    base: str
    base_sha: str | None
    branch: str
    build_id: int
    pulls: tuple[StagedPull, ...]
    method: str
    purpose: str  # "batch", "probe" or "try"


@dataclass(frozen=True)
class FastForward:
    """Move `base` from `from_sha` to `to_sha` WITHOUT force; report Done, or Refused when GitHub
    refuses (not a fast-forward: the base moved). If the base already is `to_sha`, report Done.

    First the bot's own `mlgate` check is set to success on `to_sha` (every required check passed
    there): branch protection usually requires `mlgate`, and GitHub checks the SHA being pushed."""

    repo: str
    base: str
    from_sha: str
    to_sha: str
    build_id: int
    numbers: tuple[int, ...] = ()  # the PRs it lands (for the `mlgate` check set on `to_sha` first)
    required: tuple[str, ...] = ()  # the checks that passed on `to_sha`


@dataclass(frozen=True)
class MergePull:
    """The PR's tested version landed in `landed_sha` (already on the base).

    method "merge": GitHub marks the PR merged by itself once the base contains `head_sha`; never
    call the merge API (it would make a new, untested commit). "squash"/"rebase": close the PR.
    """

    repo: str
    number: int
    head_sha: str
    landed_sha: str
    method: str


@dataclass(frozen=True)
class Comment:
    repo: str
    number: int
    body: str


@dataclass(frozen=True)
class DeleteBranch:
    """Delete the PR's head branch if it still points at `head_sha` (same-repository heads only)."""

    repo: str
    number: int
    head_sha: str


@dataclass(frozen=True)
class CancelBuild:
    """A build was abandoned; the executor may cancel CI runs on `sha` (optional, harmless to skip)."""

    repo: str
    build_id: int
    sha: str | None
    reason: str


@dataclass(frozen=True)
class Dequeue:
    """A PR left the queue: outcome merged, failed or cancelled (for the store and the report)."""

    repo: str
    number: int
    outcome: str
    reason: str


QueueAction = CreateStaging | FastForward | MergePull | Comment | DeleteBranch | CancelBuild | Dequeue



# ---------------------------------------------------------------------------------------------
# Queries


def queue_order(state: QueueState, base: str, batch_size: int = 1,
                ceiling: int | None = None) -> tuple[Pull, ...]:
    """Active PRs of `base` in the order they will be tried: the running builds, the suspects being
    bisected (and probed), the known-bad groups parked after them, then the ready PRs batch by batch
    exactly as `transitions` forms batches (`next_group`: `batch_size` PRs at most besides the vetted
    ones, `ceiling` in all; a `/single` PR in a batch of its own, after the batch that forms ahead of
    it), then the PRs still waiting for their gates. The one ordering the queue and its reports share."""
    lane = state.lane(base) or Lane(base)
    pulls = {p.number: p for p in state.pulls if p.base == base and p.status in ACTIVE}
    order: list[int] = [n for build in lane.chain if build.kind == "batch" for n in build.numbers]
    known = (*lane.suspects, *(n for g in lane.parked for n in g.numbers),
             *(n for b in lane.probes for n in b.numbers))
    order += [n for n in known if n not in order]
    pool = sorted((p for p in pulls.values() if p.status == QUEUED and p.number not in order), key=queue_rank)
    while pool:
        group = next_group(pool, batch_size, ceiling)
        order += group
        pool = [p for p in pool if p.number not in group]
    order += [p.number for p in sorted(pulls.values(), key=queue_rank) if p.status == WAITING]
    return tuple(pulls[n] for n in order if n in pulls)


def next_group(pool: list[Pull], size: int, ceiling: int | None = None) -> tuple[int, ...]:
    """The PRs of the next batch from `pool` (ready PRs, best rank first): the first PR alone when it
    must be tested alone (`/single`, or it conflicted in a batch), else the first `size` PRs that may
    share a batch, not counting the vetted ones among them (a probe passed them: they ride along),
    never more than `ceiling` (`merge.batch_size`) in all."""
    if not pool:
        return ()
    first = pool[0]
    if first.single or first.alone_next:
        return (first.number,)
    group: list[int] = []
    fresh = 0
    for p in pool:
        if p.single or p.alone_next:
            continue
        if not p.vetted:
            if fresh == max(size, 1):
                break
            fresh += 1
        group.append(p.number)
        if ceiling is not None and len(group) >= ceiling:
            break
    return tuple(group)


def queue_rank(p: Pull) -> tuple[int, int]:
    return (-p.priority, p.seq)


def outcome_counts(state: QueueState) -> dict[str, int]:
    """How many PRs are in each status (for dashboards and the simulation)."""
    counts: dict[str, int] = {}
    for p in state.pulls:
        counts[p.status] = counts.get(p.status, 0) + 1
    return counts


def lane_summary(lane: Lane, state: QueueState) -> str:
    """One line about a base's queue (for the report and the dashboard): paused or running, and what."""
    active = [p for p in state.pulls if p.base == lane.base and p.status in ACTIVE]
    held = sum(1 for p in active if p.held)
    building = ", ".join("+".join(f"#{n}" for n in b.numbers) for b in lane.chain) or "nothing"
    parts = [f"{len(active)} in the queue", f"testing {building}"]
    if lane.probes:
        probing = ", ".join("+".join(f"#{n}" for n in b.numbers) for b in lane.probes)
        parts.append(f"bisecting {probing} alone")
    if held:
        parts.append(f"{held} held")
    if lane.paused is not None:
        why = f": {lane.paused}" if lane.paused else ""
        return f"{lane.base}: paused by {lane.paused_by or 'a maintainer'}{why} ({'; '.join(parts)})"
    return f"{lane.base}: running ({'; '.join(parts)})"
