"""Pure: what changed in the merge queue between two states, as history rows.

The queue's state (bot/queue/model.py) holds only the present: a build disappears when it ends
and a PR's status is overwritten. Comparing the state before and after each step gives the builds
(started, got their SHA, ended with which outcome) and the PR events (queued, testing, merged …)
the dashboard shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlgate.bot.queue.model import CANCELLED, FAILED, MERGED, Build, QueueState

RUNNING_OUTCOME = "running"


@dataclass(frozen=True)
class BuildRow:
    build_id: int
    kind: str  # batch or try
    base: str
    pulls: tuple[int, ...]
    sha: str | None
    requested_at: float
    finished_at: float | None
    outcome: str  # running, landed, failed, split, cancelled, finished (a try)
    detail: str = ""


@dataclass(frozen=True)
class PullEvent:
    number: int
    kind: str  # a queue status: waiting, queued, testing, merged, failed, cancelled
    detail: str
    at: float


def _builds(state: QueueState) -> dict[int, Build]:
    out = {build.id: build for lane in state.lanes for build in (*lane.chain, *lane.probes)}  # speculative too
    out.update({b.id: b for b in state.tries})
    return out


def _row(build: Build, outcome: str, finished_at: float | None, detail: str = "") -> BuildRow:
    return BuildRow(build.id, build.kind, build.base, build.numbers, build.sha, build.requested_at, finished_at,
                    outcome, detail)


def _outcome(build: Build, new: QueueState) -> tuple[str, str]:
    """How a build that is gone ended, read from its PRs and the lane's evidence in `new`."""
    if build.kind != "batch":
        return "finished", ""
    statuses = {p.number: p.status for p in new.pulls if p.number in build.numbers}
    lane = new.lane(build.base)
    evidence = lane.evidence if lane is not None and lane.evidence and lane.evidence.build_id == build.id else None
    failed = "; ".join(evidence.failed) if evidence else ""
    if statuses and all(s == MERGED for s in statuses.values()):
        return "landed", ""
    if any(s == FAILED for s in statuses.values()):
        return "failed", failed
    if statuses and all(s == CANCELLED for s in statuses.values()):
        return "cancelled", ""
    if evidence is not None:
        return "split", failed  # red: the queue bisects it
    return "cancelled", "abandoned (a PR changed, or the base moved)"


def diff(old: QueueState, new: QueueState, now: float) -> tuple[list[BuildRow], list[PullEvent]]:
    """The builds that started, changed or ended, and the PR status changes, from `old` to `new`."""
    before, after = _builds(old), _builds(new)
    rows: list[BuildRow] = []
    for bid, build in after.items():
        if before.get(bid) != build:
            rows.append(_row(build, RUNNING_OUTCOME, None))
    for bid, build in before.items():
        if bid not in after:
            outcome, detail = _outcome(build, new)
            rows.append(_row(build, outcome, now, detail))
    events: list[PullEvent] = []
    was = {p.number: p for p in old.pulls}
    for pull in new.pulls:
        prev = was.get(pull.number)
        if prev is None or prev.status != pull.status:
            detail = pull.reason
            if pull.status == MERGED and pull.landed_sha:
                detail = f"landed in {pull.landed_sha[:12]}"
            elif pull.status == "testing":
                testing = next((b for b in after.values() if pull.number in b.numbers), None)
                if testing is not None:
                    detail = f"in build {testing.id}" + (f" at {testing.sha[:12]}" if testing.sha else "")
            events.append(PullEvent(pull.number, pull.status, detail, now))
        elif prev.priority != pull.priority or prev.single != pull.single:
            events.append(PullEvent(pull.number, "options", f"priority {pull.priority}"
                                    + (", built alone (/single)" if pull.single else ""), now))
    return rows, events
