"""A worker process killed in the middle of a merge-queue feed: after saving a step, before carrying
out its actions (here: building the staging commit). The next tick of a live worker must resume that
queue once the dead process's feed lease has run out — not 15 minutes later when
`merge.start_timeout_minutes` re-asks, and without a new webhook (bench/load.py's kill phase once
stalled this way: a base branch with a build nobody was building and PRs queued behind it).

The crash is real: a subprocess runs the feed against the same database and dies with `os._exit`
(as under SIGKILL: no `finally`, no lock released) as the staging commit is begun. The survivor
sees a fresh fake GitHub with the same commits, as a second process would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.bot.queue.model import QueueConfig
from mlgate.bot.queue.runner import running_shas
from mlgate.bot.store.inbox import Inbox
from tests.bot.test_queue_runner import CHECK, REPO, World

ROOT = Path(__file__).resolve().parents[2]
STAGING = (REPO, "mlgate/staging/main")


def config(via: str) -> QueueConfig:
    """`via` tick: a batch delay, so the staging commit is begun by a tick (the worker's timer)."""
    return QueueConfig(branches=("main",), required_checks=(CHECK,), batch_size=8, adaptive=False,
                       batch_delay_seconds=5.0 if via == "tick" else 0.0)


def crash_mid_feed(url: str, via: str) -> None:
    """The doomed worker: `/merge` #1 (and #2 within the batch delay), then die as the first staging
    branch is forced: in the /merge's feed, or in the tick that ends the batch delay."""
    store = Inbox.open(url)
    w = World(store, config(via))
    real_force = w.forge.force_branch

    def force_branch(repo: str, branch: str, sha: str) -> None:
        if branch.startswith("mlgate/tmp/"):
            os._exit(137)
        real_force(repo, branch, sha)

    w.forge.force_branch = force_branch  # type: ignore[method-assign]
    for n in (1, 2):
        w.pr(n)
        w.merge(n)
    w.clock.now += 10
    w.runner.tick()
    raise SystemExit("the staging commit was never begun")


@pytest.mark.parametrize("via", ["merge", "tick"])
def test_a_worker_killed_mid_feed_is_resumed_by_the_next_tick_of_a_live_one(db_url: str, store: Inbox,
                                                                              via: str) -> None:
    code = f"from tests.bot.test_queue_crash import crash_mid_feed; crash_mid_feed({db_url!r}, {via!r})"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 137, proc.stderr[-2000:]

    w = World(store, config(via))  # a live worker on the same database and the same GitHub
    for n in (1, 2):
        w.pr(n)
    w.clock.now += 10  # the dead worker's time
    building = [b for lane in w.runner.state(REPO).lanes for b in lane.chain]
    assert [b.state for b in building] == ["creating"], "the step was saved, its staging commit never built"
    w.runner.tick()  # the dead feed's lease has not run out yet: it might be alive and building
    assert STAGING not in w.forge.branches

    w.clock.now += 61  # past the feed lease (60 s by default), 14 minutes before merge.start_timeout_minutes
    w.runner.tick()
    assert STAGING in w.forge.branches, "the live worker's tick resumed the abandoned build"
    assert running_shas(w.runner.state(REPO)) == {w.forge.branches[STAGING]}
    w.ci()
    landed = {1: "merged"} if via == "merge" else {1: "merged", 2: "merged"}  # #2 came after the crash
    assert {p.number: p.status for p in w.runner.state(REPO).pulls} == landed
    assert w.main_moves() and set(w.main_moves()) <= w.green
    assert not w.runner.store.abandoned_feeds(w.clock.now + 3600), "every feed lock was given back"


def test_a_live_feed_keeps_its_lease_and_is_never_taken_over(store: Inbox) -> None:
    """The other side: a feed that takes longer than the lease (a slow GitHub) is alive, renews its lease
    from the runner's background thread, and another worker's tick leaves it alone: two processes
    building the same staging commit would interleave their merges on one temporary branch."""
    import threading
    import time

    from mlgate.bot.queue.model import MergeRequested
    from mlgate.bot.queue.runner import QueueRunner
    from mlgate.bot.queue.store import QueueStore, queue_feed_locks
    from tests.conftest import wait_until

    lease = 0.3
    slow = World(store, config("merge"))
    slow.runner = QueueRunner(QueueStore(store.engine), lambda repo: slow.forge, lambda repo, branch: slow.config,
                              lease_seconds=lease)  # the real clock: the renewals are real
    entered, release = threading.Event(), threading.Event()
    real_force = slow.forge.force_branch

    def force_branch(repo: str, branch: str, sha: str) -> None:
        if branch.startswith("mlgate/tmp/") and not release.is_set():
            entered.set()
            release.wait(30)
        real_force(repo, branch, sha)

    slow.forge.force_branch = force_branch  # type: ignore[method-assign]
    head = slow.pr(1)
    started = time.time()
    feeding = threading.Thread(target=slow.runner.feed,
                               args=(REPO, [MergeRequested(1, "main", head, "alice", gates="success")]))
    feeding.start()
    try:
        assert entered.wait(30)

        def lease_until() -> float:
            with store.engine.connect() as conn:
                return float(conn.execute(queue_feed_locks.select()).one().lease_until or 0)

        # renewed well past its first lease: the process is alive, just slow
        assert wait_until(lambda: lease_until() > started + 4 * lease, timeout=30)
        other = World(store, config("merge"))
        other.pr(1)
        other.runner = QueueRunner(QueueStore(store.engine), lambda repo: other.forge,
                                   lambda repo, branch: other.config, lease_seconds=lease)
        assert other.runner.tick() == 0
        assert not other.forge.writes_of("force_branch"), "a live feed was taken over"
    finally:
        release.set()
        feeding.join(30)
    assert STAGING in slow.forge.branches
    assert not slow.runner.store.abandoned_feeds(time.time() + 3600)
