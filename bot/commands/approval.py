"""Which commit a `/merge` (or `/try`, `/retry`) approves: the PR's head as of the comment. Pure.

Deliveries queue up (a busy worker, a restart, GitHub redelivering after an outage) and GitHub
does not promise their order, so the head the bot reads while it processes a comment may have
been pushed after the comment was written. The commenter approved what they saw; a later push
voids the approval. The evidence (`HeadSeen`, kept per PR by bot/commands/heads.py):

- `pull_request` events (opened, synchronize, reopened, and any other action carrying the PR):
  `head.sha` was the head at GitHub's `pull_request.updated_at` (the event's own time).
- the bot's own reads of the PR (every evaluation): the head was `sha` when the bot read it, on
  the bot's clock.

The rule, `head_at(seen, comment_time)`: the head at the comment's `created_at` is the newest
sighting that certainly happened before the comment:
- an event strictly before it (GitHub's timestamps have one-second resolution: a push in the same
  second as the comment may have followed it, so it does not count), or an `opened` event in the
  same second (a comment cannot precede the PR it is on);
- a read more than `READ_MARGIN_SECONDS` before it (the bot's clock against GitHub's: the margin
  covers clock skew).
The approval holds only if that head is still the PR's head when the comment is processed;
otherwise the command is void and the reply names both SHAs. `/merge <sha>` (7 to 40 hex
characters, bors/homu `r+ <sha>`) approves exactly the commit it names, and is accepted only when
that is the current head. With no sighting before the comment (the bot never saw the PR before:
installed after the PR was opened and no event since, or a missed `opened` delivery), nothing
shows what the commenter saw: the command is void and the reply asks for `/merge <sha>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

READ_MARGIN_SECONDS = 60.0
EVENT_SOURCES = ("opened", "synchronize", "reopened", "event")
READ = "read"


@dataclass(frozen=True)
class HeadSeen:
    """`sha` was the PR's head at `at` (seconds since the epoch): GitHub's time for events, the
    bot's clock for reads (`source` "read")."""

    sha: str
    at: float
    source: str


@dataclass(frozen=True)
class Approval:
    """What a command approves: `sha` (None: void, `reason` says why in Markdown without user text)."""

    sha: str | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.sha is not None


def counts_before(seen: HeadSeen, when: float) -> bool:
    """Did this sighting certainly happen before a comment created at `when`?"""
    if seen.source == READ:
        return seen.at + READ_MARGIN_SECONDS < when
    if seen.source == "opened":
        return seen.at <= when
    return seen.at < when


def head_at(seen: Sequence[HeadSeen], when: float) -> HeadSeen | None:
    """The newest sighting before `when` (ties in time: the one recorded last); None if there is none."""
    best: tuple[float, int, HeadSeen] | None = None
    for index, s in enumerate(seen):
        if counts_before(s, when) and (best is None or (s.at, index) >= best[:2]):
            best = (s.at, index, s)
    return best[2] if best else None


def approve(
    command: str,
    seen: Sequence[HeadSeen],
    comment_at: float | None,
    current_head: str,
    named: str | None = None,
) -> Approval:
    """The head `/{command}` approves, or why it approves nothing.

    `seen`: the PR's sightings in the order the bot recorded them; `comment_at`: the comment's
    `created_at`; `current_head`: the PR's head now; `named`: the SHA the command names, if any.
    """
    now = current_head[:7]
    again = f"Comment `/{command} {now}` to approve exactly that commit."
    if named is not None:
        if current_head.lower().startswith(named.lower()):
            return Approval(current_head)
        return Approval(None, f"`/{command} {named}` names {named}, but the head of this PR is {now}; nothing was "
                              f"done. {again}")
    if comment_at is None:
        return Approval(None, f"`/{command}`: this comment carries no creation time, so I cannot tell which commit "
                              f"it approves; nothing was done. The head is {now}. {again}")
    before = head_at(seen, comment_at)
    if before is None:
        return Approval(None, f"`/{command}`: I had not seen this PR's head from before your comment, so I cannot "
                              f"tell which commit you approved; nothing was done. The head is {now}. {again}")
    if before.sha != current_head:
        return Approval(None, f"`/{command}`: when you commented, the head of this PR was {before.sha[:7]}; it is "
                              f"now {now} (pushed after your comment, or not yet seen by mlgate when you wrote "
                              f"it). `/{command}` approves the head you saw, so nothing was done. {again}")
    return Approval(current_head)
