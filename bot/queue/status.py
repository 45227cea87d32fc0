"""Where one PR stands in the merge queue, read from the state. Pure.

The PR's report comment (its queue block) and the `/status` reply both show this, worded by
`messages.status_text`. Positions come from `model.queue_order`, the order the queue will really
try PRs in (the same `next_group` rule that forms batches), so a PR told "position 2" is tried
second.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlgate.bot.queue import strategy
from mlgate.bot.queue.model import ACTIVE, IDLE, TESTING, QueueConfig, QueueState, queue_order


@dataclass(frozen=True)
class QueueStatus:
    """One PR's place: its status (model's statuses), where it is, and why (plain text, unescaped)."""

    number: int
    status: str
    base: str
    position: int | None = None  # 1-based in the order PRs will be tried (active PRs only)
    of: int = 0  # active PRs of that base
    batch_id: int | None = None  # the build testing it
    batch: tuple[int, ...] = ()  # the PRs of that build
    staging_sha: str | None = None  # None while the staging commit is being built
    staging_branch: str = ""
    landed_sha: str | None = None
    reason: str = ""  # why it waits, was preempted, left, or how it landed
    priority: int = 0
    single: bool = False
    requested_by: str = ""

    @property
    def in_queue(self) -> bool:
        """Queued, being tested or landed: the report no longer says "comment /merge"."""
        return self.status in ACTIVE or self.status == "merged"


def batch_size_of(state: QueueState, base: str, config: QueueConfig | None) -> int:
    """The size the next batch of `base` will have (1 when the config is unknown)."""
    if config is None:
        return 1
    lane = state.lane(base)
    return strategy.batch_size(lane.recent if lane else (), config.batch_size, config.adaptive, config.parallel)


def pull_status(state: QueueState, number: int, config: QueueConfig | None = None) -> QueueStatus | None:
    """The PR's place in the queue, or None when the queue never heard of it."""
    pull = state.pull(number)
    if pull is None:
        return None
    status = QueueStatus(number, pull.status, pull.base, reason=pull.reason, priority=pull.priority,
                         single=pull.single, landed_sha=pull.landed_sha, requested_by=pull.requested_by)
    if pull.status == IDLE or pull.status not in ACTIVE:
        return status
    order = [p.number for p in queue_order(state, pull.base, batch_size_of(state, pull.base, config))]
    position = order.index(number) + 1 if number in order else None
    lane = state.lane(pull.base)
    build = next((b for b in lane.chain if number in b.numbers), None) if lane else None  # speculative too
    if pull.status == TESTING and build is not None:
        return _with(status, position, len(order), build.id, build.numbers, build.sha, build.branch)
    return _with(status, position, len(order), None, (), None, "")


def _with(s: QueueStatus, position: int | None, of: int, batch_id: int | None, batch: tuple[int, ...],
          sha: str | None, branch: str) -> QueueStatus:
    return QueueStatus(s.number, s.status, s.base, position, of, batch_id, batch, sha, branch, s.landed_sha,
                       s.reason, s.priority, s.single, s.requested_by)


def statuses(state: QueueState, config: QueueConfig | None = None) -> dict[int, QueueStatus]:
    """Every PR's status (to see which reports a step changed)."""
    return {p.number: s for p in state.pulls if (s := pull_status(state, p.number, config)) is not None}
