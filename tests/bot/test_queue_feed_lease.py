"""A feed whose lease ran out while its process was alive but slow (a long GitHub call, a paused VM,
renewals failing) must not go on carrying out actions once another process took the feed over:
two feeds of one repository at once build the same staging commit twice."""

from __future__ import annotations

import pytest

from mlgate.bot.queue.model import MergeRequested, QueueConfig
from mlgate.bot.queue.runner import FeedLost
from mlgate.bot.store.inbox import Inbox
from tests.bot.test_queue_runner import CHECK, REPO, World


def test_a_feed_that_lost_its_lease_stops_before_its_next_action(store: Inbox) -> None:
    w = World(store, QueueConfig(branches=("main",), required_checks=(CHECK,), batch_size=1, adaptive=False))
    other = w.new_runner()  # a second worker process on the same database and GitHub
    real_force = w.forge.force_branch
    took_over: list[bool] = []

    def slow_force(repo: str, branch: str, sha: str) -> None:
        if branch.startswith("mlgate/tmp/") and not took_over:
            took_over.append(True)
            w.clock.now += w.runner.lease_seconds + 1  # the first feed stalls past its lease ...
            other.tick()  # ... and the other worker takes the feed over and resumes it
        real_force(repo, branch, sha)

    w.forge.force_branch = slow_force  # type: ignore[method-assign]
    w.pr(1)
    head = w.forge.pulls[(REPO, 1)].head_sha
    with pytest.raises(FeedLost):  # the stale feed stops; its saved step is the new feeder's to carry out
        w.runner.feed(REPO, [MergeRequested(1, "main", head, "alice", gates="success")])
    assert took_over
    staging = [x for x in w.forge.writes_of("force_branch") if x[2] == "mlgate/staging/main"]
    assert len(staging) == 1, f"two feeds built the staging commit: {staging}"
    w.ci()  # and the queue goes on: #1 lands once, on the commit the new feeder built
    assert w.main_moves() == [staging[0][3]]
    assert w.runner.state(REPO).pull(1).status == "merged"
