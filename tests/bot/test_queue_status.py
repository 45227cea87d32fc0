"""Where a PR stands in the merge queue (bot/queue/status.py) and how it is worded: pure, no GitHub."""

from __future__ import annotations

from dataclasses import replace

from mlgate.bot import queue as q
from mlgate.bot.queue.messages import status_text
from mlgate.bot.queue.status import pull_status, statuses
from tests.bot.test_queue import CFG, Q, head, of


def tried_order(h: Q, rounds: int = 10) -> list[int]:
    """Run every build green and record the PRs in the order their builds were started."""
    order: list[int] = []
    for _ in range(rounds):
        build = h.build
        if build is None:
            break
        order += [n for n in build.numbers if n not in order]
        h.run(True)
    return order


def test_positions_are_the_order_prs_are_really_tried_with_a_single_pr_among_them() -> None:
    # batch of 2: [#2, #4] first; #3 is single and waits for the batch that formed ahead of it
    h = Q(replace(CFG, batch_size=2, adaptive=False, batch_delay_seconds=60))
    h(q.SingleChanged(3, True))
    for n in (2, 3, 4, 5):
        h.merge(n)
    st = statuses(h.state, h.cfg)
    told = sorted((st[n].position or 0, n) for n in (2, 3, 4, 5))
    h.later(61)
    assert [n for _, n in told] == tried_order(h)
    assert [n for _, n in told] == [2, 4, 3, 5]  # the single #3 after the batch formed ahead of it


def test_the_status_says_position_batch_staging_sha_and_landing() -> None:
    h = Q(replace(CFG, batch_delay_seconds=60))
    h.merge(1), h.merge(2)
    text = status_text(pull_status(h.state, 2, h.cfg))
    assert "queued for main at position 2." in text
    h.later(61)
    assert "being tested in batch 1 with #2: a staging commit being built" in status_text(
        pull_status(h.state, 1, h.cfg))
    sha = h.created()
    text = status_text(pull_status(h.state, 1, h.cfg))
    assert f"staging commit {sha[:12]} on mlgate/staging/main" in text
    out = h.checks(sha)
    h(q.FastForwardDone(of(out, q.FastForward)[0].build_id, sha))
    assert f"Landed on main in {sha}" in status_text(pull_status(h.state, 1, h.cfg))
    assert pull_status(h.state, 1).in_queue  # the report stops saying "comment /merge"


def test_a_preempted_pr_is_told_why_it_is_back_in_the_queue() -> None:
    h = Q(replace(CFG, batch_size=1, adaptive=False))
    h.merge(1)
    assert h.status(1) == q.TESTING
    h.merge(2, priority=5)
    assert h.status(1) == q.QUEUED
    text = status_text(pull_status(h.state, 1, h.cfg))
    assert "preempted by #2 (priority 5)" in text.replace("\u200b", "")
    h.run(True)  # #2 alone
    assert h.state.pull(1).reason == ""  # tested again: the note is gone once it runs


def test_a_pr_that_left_is_told_why_and_how_to_come_back() -> None:
    h = Q()
    h.merge(1)
    h(q.CancelRequested(1, "bob"))
    text = status_text(pull_status(h.state, 1, h.cfg))
    assert "left the queue because /cancel by bob" in text and "`/merge`" in text
    assert not pull_status(h.state, 1).in_queue


def test_user_text_in_the_status_is_escaped() -> None:
    h = Q()
    h(q.MergeRequested(1, "main", head(1), "alice", None, "pending", ("<img src=x> @everyone",)))
    text = status_text(pull_status(h.state, 1, h.cfg))
    assert "<img" not in text and "@everyone" not in text


def test_unknown_and_unavailable() -> None:
    assert "Comment `/merge`" in status_text(None)
    assert "not available" in status_text(None, queue_available=False)
