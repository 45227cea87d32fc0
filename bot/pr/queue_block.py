"""The merge-queue block of the PR's report comment: where the PR stands, between two hidden markers.

An evaluation renders the whole report with the block (templates/comment_queue.md.j2); when only
the queue moved (queued, batch started, preempted, landed, left), `with_queue_block` swaps the
block in the report already on GitHub, so the bot edits one comment instead of posting a new one
and reads nothing else. The note is Markdown whose user text is already escaped
(`mlgate.bot.queue.messages.status_text`). Pure.
"""

from __future__ import annotations

import re

QUEUE_BLOCK_START = "<!-- mlgate-queue-state -->"
QUEUE_BLOCK_END = "<!-- /mlgate-queue-state -->"
_BLOCK = re.compile(re.escape(QUEUE_BLOCK_START) + r".*?" + re.escape(QUEUE_BLOCK_END), re.DOTALL)


def queue_block(note: str) -> str:
    """The block as it appears in the report (the template renders exactly this)."""
    clean = note.replace(QUEUE_BLOCK_START, "").replace(QUEUE_BLOCK_END, "").strip()
    return f"{QUEUE_BLOCK_START}\n{clean}\n{QUEUE_BLOCK_END}"


def with_queue_block(body: str, note: str) -> str | None:
    """`body` with its queue block replaced by `note`; None when the report has no block (an older
    report, or a bot without the queue): the next evaluation renders it whole."""
    if not _BLOCK.search(body):
        return None
    return _BLOCK.sub(lambda _m: queue_block(note), body, count=1)
