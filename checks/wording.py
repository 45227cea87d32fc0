"""Small English helpers for the sentences reports and summaries print.

Why a module: "1 of 1 gates", "1 rules need" and a sentence cut in the middle of a number each
came from a hand-written f-string. Counting words and cutting text live here, tested once, and the
checks, the reports and the bot use them alike.
"""

from __future__ import annotations

from collections.abc import Sequence

ELLIPSIS = "…"
# Where a long summary may be cut, best first: between clauses, then between words.
_CLAUSE_BREAKS = ("; ", " — ", ", ")


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`plural(1, "gate")` → "1 gate", `plural(3, "gate")` → "3 gates" (thousands separated)."""
    word = noun if n == 1 else (many or noun + "s")
    return f"{n:,} {word}"


def verb(n: int, one: str, many: str) -> str:
    """The verb form agreeing with a count: `verb(1, "blocks", "block")`."""
    return one if n == 1 else many


def names(items: Sequence[str], limit: int = 5) -> str:
    """"a, b and c"; more than `limit` items end with "and N more"."""
    items = list(items)
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit:,} more"
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def gates_verdict(blocking: Sequence[str], warned: Sequence[str], total: int) -> str:
    """The one-line verdict over `total` gates, e.g. "2 of 6 gates block the merge: bias, regression".

    Singular and plural agree with the counts, and a single gate is named rather than counted
    ("bias blocks the merge", never "1 of 1 gates block").
    """
    if blocking:
        listed = ", ".join(blocking)
        if total == 1:
            return f"{listed} blocks the merge"
        return f"{len(blocking)} of {total} gates {verb(len(blocking), 'blocks', 'block')} the merge: {listed}"
    if total == 0:
        return "no gates ran"
    passed = "the gate passed" if total == 1 else ("both gates passed" if total == 2 else f"all {total} gates passed")
    if warned:
        return f"{passed}, with warnings in {', '.join(warned)}"
    return passed


def clip(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, cut between clauses (or words) with "…".

    Never cuts inside a word or a number, and prefers a break outside parentheses, so "lowest
    Black 0.0797" is kept whole or left out, never printed as "lowest Black 0…".
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    window = text[: room + 1]
    depth_at = _paren_depths(window)
    for sep in _CLAUSE_BREAKS:
        cut = _last_break(window, sep, room, depth_at)
        if cut > room // 3:
            return window[:cut].rstrip(" ,;—") + ELLIPSIS
    cut = window.rfind(" ", 0, room + 1)
    if cut > 0:
        return window[:cut].rstrip(" ,;—(") + ELLIPSIS
    return text[:room] + ELLIPSIS  # one long word: nothing better to do


def _paren_depths(text: str) -> list[int]:
    depth, out = 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        out.append(depth)
        if ch in ")]":
            depth = max(0, depth - 1)
    return out


def _last_break(text: str, sep: str, room: int, depth_at: list[int]) -> int:
    """The last position of `sep` that ends within `room` and sits outside parentheses (or -1)."""
    pos = text.rfind(sep, 0, room + 1)
    while pos > 0:
        if depth_at[pos] == 0:
            return pos
        pos = text.rfind(sep, 0, pos)
    return -1
