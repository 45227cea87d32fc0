"""What the merge queue did, for the logs and the metrics: each event stepped and action carried
out is one structured log line (`queue.*` events with repository, PR, SHA, and the delivery id the
worker put in context), and each change of state updates the queue's metrics."""

from __future__ import annotations

import logging

from mlgate.bot.observability import metrics
from mlgate.bot.queue.model import (
    ACTIVE,
    MERGED,
    CancelBuild,
    CheckUpdate,
    Comment,
    CreateStaging,
    DeleteBranch,
    Dequeue,
    Event,
    FastForward,
    FastForwardDone,
    FastForwardRefused,
    MergePull,
    QueueAction,
    QueueState,
    StagingCreated,
    StagingFailed,
)

log = logging.getLogger("mlgate.queue")


def _info(event: str, msg: str, repo: str, *args: object, pr: int | None = None, sha: str | None = None,
          **extra: object) -> None:
    log.info(msg, *args, extra={"event": event, "repo": repo, "pr": pr, "sha": sha, **extra})


def watch_event(repo: str, event: Event) -> None:
    """Log an event the queue is about to step (the ones operators follow; the rest at debug)."""
    if isinstance(event, StagingCreated):
        _info("queue.staging_sha", "build %d of %s: staging commit %s on %s", repo, event.build_id, repo,
              event.sha[:12], event.base_sha[:12], sha=event.sha, build=event.build_id, base_sha=event.base_sha)
    elif isinstance(event, CheckUpdate):
        _info("queue.check_received", "%s on %s: %s %s", repo, event.name, event.sha[:12], event.status,
              event.conclusion or "", sha=event.sha, check=event.name, conclusion=event.conclusion)
    elif isinstance(event, StagingFailed):
        _info("queue.staging_failed", "build %d of %s could not be built: %s", repo, event.build_id, repo,
              event.reason, pr=event.number, build=event.build_id)
    elif isinstance(event, FastForwardDone):
        _info("queue.fast_forwarded", "build %d of %s: the base is at %s", repo, event.build_id, repo,
              event.sha[:12], sha=event.sha, build=event.build_id)
    elif isinstance(event, FastForwardRefused):
        _info("queue.refused", "build %d of %s: GitHub refused the fast-forward (%s)", repo, event.build_id, repo,
              event.reason, sha=event.base_sha, build=event.build_id)
    else:
        log.debug("merge queue of %s: %s", repo, type(event).__name__, extra={"repo": repo})


def watch_action(repo: str, action: QueueAction) -> None:
    """Log an action the queue runner carries out."""
    if isinstance(action, CreateStaging):
        numbers = ",".join(str(p.number) for p in action.pulls)
        _info("queue.batch_built", "%s build %d of %s on %s: PRs %s", repo, action.purpose, action.build_id, repo,
              action.base, numbers, build=action.build_id, base=action.base, prs=numbers, purpose=action.purpose)
    elif isinstance(action, FastForward):
        _info("queue.fast_forward", "fast-forward %s of %s from %s to %s", repo, action.base, repo,
              action.from_sha[:12], action.to_sha[:12], sha=action.to_sha, build=action.build_id)
    elif isinstance(action, MergePull):
        _info("queue.landed", "%s#%d landed in %s", repo, repo, action.number, action.landed_sha[:12],
              pr=action.number, sha=action.landed_sha, head_sha=action.head_sha)
    elif isinstance(action, Dequeue) and action.outcome != MERGED:
        _info("queue.left", "%s#%d left the queue (%s): %s", repo, repo, action.number, action.outcome,
              action.reason, pr=action.number, outcome=action.outcome)
    elif isinstance(action, CancelBuild):
        _info("queue.build_abandoned", "build %d of %s abandoned: %s", repo, action.build_id, repo, action.reason,
              sha=action.sha, build=action.build_id)
    elif isinstance(action, Comment):
        _info("github.write", "comment on %s#%d", repo, repo, action.number, pr=action.number, write="comment")
    elif isinstance(action, DeleteBranch):
        _info("queue.delete_branch", "delete the head branch of %s#%d", repo, repo, action.number,
              pr=action.number, sha=action.head_sha)


def watch_change(repo: str, before: QueueState, after: QueueState, now: float) -> None:
    """Metrics from one feed's change of state: queue length, builds by outcome, CI runs, landings, and
    the start of a bisection (logged)."""
    metrics.QUEUE_LENGTH.labels(repo=repo).set(sum(1 for p in after.pulls if p.status in ACTIVE))
    old = {p.number: p for p in before.pulls}
    for pull in after.pulls:
        was = old.get(pull.number)
        if pull.status == MERGED and (was is None or was.status != MERGED):
            metrics.MERGED.labels(repo=repo).inc()
            if pull.queued_at:
                metrics.TIME_TO_MERGE.observe(max(0.0, now - pull.queued_at))
    for lane in before.lanes:
        new = after.lane(lane.base)
        runs = (new.runs if new else lane.runs) - lane.runs
        if runs > 0:
            metrics.CI_RUNS.labels(repo=repo).inc(runs)
        build = lane.build
        if build is None or build.kind != "batch" or (new and new.build and new.build.id == build.id):
            continue
        landed = any((p := after.pull(n)) is not None and p.status == MERGED for n in build.numbers)
        metrics.BATCHES.labels(outcome="landed" if landed else "failed" if runs > 0 else "abandoned").inc()
        if new is not None and new.suspects and new.suspects != lane.suspects:
            _info("queue.bisect", "%s: bisecting %s after build %d failed", repo, repo,
                  ",".join(f"#{n}" for n in new.suspects), build.id, base=lane.base)
    total_runs = sum(lane.runs for lane in after.lanes)
    merged = sum(1 for p in after.pulls if p.status == MERGED)
    if merged:
        metrics.CI_RUNS_PER_MERGED.labels(repo=repo).set(total_runs / merged)
