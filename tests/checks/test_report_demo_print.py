"""`mlgate demo` prints each report comment once as it changes: a waiting report as one line, a
report with a verdict as its first screen, nothing again until what it says changes."""

from __future__ import annotations

from mlgate.bot.github.executor import REPORT_MARKER
from mlgate.demo import DETAILS_MARKER, report_update


def _body(verdict: str, first: str, details: str = "| gate | status |\n|---|---|\n| x | ✅ pass |") -> str:
    return (f"{REPORT_MARKER}\n<!-- mlgate-state: {{}} -->\n## {verdict}\n\n{first}\n\n{DETAILS_MARKER}\n\n---\n\n"
            f"{details}\n")


def test_a_waiting_report_is_one_line_and_a_verdict_is_its_first_screen_once() -> None:
    waiting = _body("⏳ mlgate: waiting for mlgate/data, tests", "- mlgate/data has not reported yet")
    key, lines = report_update(1, None, waiting)
    assert lines == ["  report on #1: ⏳ mlgate: waiting for mlgate/data, tests (the gates have not all reported yet)"]
    assert report_update(1, key, waiting) == (key, [])  # unchanged: nothing printed
    blocked = _body("❌ mlgate: 1 of 7 gates blocks the merge: mlgate/bias", "**What to do next**\n\n- fix it")
    key, lines = report_update(1, key, blocked)
    text = "\n".join(lines)
    assert "report comment on #1" in text and "│ ## ❌ mlgate: 1 of 7 gates blocks the merge" in text
    assert "│ - fix it" in text and "| x | ✅ pass |" not in text  # the first screen only
    assert "… and 3 more lines in the comment" in text
    assert "mlgate-state" not in text and DETAILS_MARKER not in text
    # the details change (a link, a number further down): the first screen is not printed again
    assert report_update(1, key, _body("❌ mlgate: 1 of 7 gates blocks the merge: mlgate/bias",
                                       "**What to do next**\n\n- fix it", "| y | ✅ pass |")) == (key, [])
    key2, lines = report_update(1, key, _body("✅ mlgate: all 7 gates passed", "✅ Passed: everything."))
    assert key2 != key and any("all 7 gates passed" in line for line in lines)
