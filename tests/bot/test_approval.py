"""What a `/merge` approves (bot/commands/approval.py): the PR's head as of the comment, decided from the
heads the bot saw and when. Pure: sightings in, an approval or the reason it is void out."""

from __future__ import annotations

import pytest

from mlgate.bot.commands.approval import READ_MARGIN_SECONDS, HeadSeen, approve, counts_before, head_at
from mlgate.bot.github.payloads import parse_time

H, N = "a" * 40, "b" * 40  # the head the commenter saw, and a commit pushed later
T = 1_800_000_000.0  # the comment's created_at


@pytest.mark.parametrize(
    ("seen", "counts"),
    [
        (HeadSeen(H, T - 1, "synchronize"), True),
        (HeadSeen(H, T, "synchronize"), False),  # same second: the push may have followed the comment
        (HeadSeen(H, T, "reopened"), False),
        (HeadSeen(H, T, "event"), False),
        (HeadSeen(H, T, "opened"), True),  # a comment cannot precede the PR it is on
        (HeadSeen(H, T + 1, "opened"), False),
        (HeadSeen(H, T - READ_MARGIN_SECONDS - 1, "read"), True),
        (HeadSeen(H, T - READ_MARGIN_SECONDS, "read"), False),  # the bot's clock: only with a margin for skew
        (HeadSeen(H, T - 5, "read"), False),
    ],
)
def test_which_sightings_certainly_happened_before_the_comment(seen: HeadSeen, counts: bool) -> None:
    assert counts_before(seen, T) is counts


def test_the_head_at_the_comment_is_the_newest_sighting_before_it() -> None:
    seen = [HeadSeen(H, T - 100, "opened"), HeadSeen(N, T + 3, "synchronize")]
    assert head_at(seen, T) == seen[0]
    assert head_at(seen, T + 10) == seen[1]
    assert head_at(seen, T - 101) is None
    # one second, two events: the one recorded (delivered) last
    same = [HeadSeen(H, T - 5, "synchronize"), HeadSeen(N, T - 5, "synchronize")]
    assert head_at(same, T).sha == N
    # force-pushed back: the newest counts
    aba = [HeadSeen(H, T - 30, "opened"), HeadSeen(N, T - 20, "synchronize"), HeadSeen(H, T + 5, "synchronize")]
    assert head_at(aba, T).sha == N


def test_a_push_after_the_comment_voids_it_naming_both_shas() -> None:
    seen = [HeadSeen(H, T - 100, "opened")]  # the push's synchronize is not delivered yet
    void = approve("merge", seen, T, N)
    assert not void.ok and void.sha is None
    assert "when you commented, the head of this PR was aaaaaaa; it is now bbbbbbb" in void.reason
    assert "Comment `/merge bbbbbbb` to approve exactly that commit." in void.reason
    delivered = [*seen, HeadSeen(N, T, "synchronize")]  # delivered first, pushed in the comment's second
    assert not approve("merge", delivered, T, N).ok
    assert approve("merge", seen, T, H).sha == H


def test_a_push_before_the_comment_is_what_it_approves() -> None:
    seen = [HeadSeen(H, T - 100, "opened"), HeadSeen(N, T - 2, "synchronize")]
    assert approve("merge", seen, T, N).sha == N
    assert not approve("merge", seen, T, H).ok  # pushed back to H after the comment: void


def test_an_explicit_sha_approves_exactly_that_commit_if_it_is_the_head() -> None:
    assert approve("merge", [], None, N, named="bbbbbbb").sha == N  # first contact, no time: still explicit
    assert approve("merge", [], T, N, named=N).sha == N
    void = approve("merge", [HeadSeen(H, T - 9, "opened")], T, N, named="aaaaaaa")
    assert not void.ok and "names aaaaaaa, but the head of this PR is bbbbbbb" in void.reason


def test_first_contact_and_a_comment_without_a_time_approve_nothing() -> None:
    first = approve("try", [HeadSeen(N, T + 1, "read")], T, N)  # read only after the comment
    assert not first.ok and "I had not seen this PR's head from before your comment" in first.reason
    assert "`/try bbbbbbb`" in first.reason
    untimed = approve("merge", [HeadSeen(N, T - 500, "opened")], None, N)
    assert not untimed.ok and "carries no creation time" in untimed.reason
    installed = [HeadSeen(N, T - 3600, "read")]  # the bot read the PR an hour before the comment
    assert approve("merge", installed, T, N).sha == N


def test_github_timestamps() -> None:
    assert parse_time("2026-11-28T10:00:00Z") == parse_time("2026-11-28T10:00:00+00:00")
    assert parse_time("2026-11-28T10:00:00Z") == 1_795_860_000.0
    assert parse_time(None) is None and parse_time("yesterday") is None and parse_time(5) is None
