"""The PR report comment and the `mlgate` check summary, rendered from templates/comment*.md.j2.

Rendering only: what the verdict is and what to do next are decided by the handler and passed in
as `ReportData`. The Jinja environment and the `md` escaping filter are checks/report.py's, so the
bot's comment and the gates' check runs escape user text (titles, branch names, file names,
logins, check names, config errors) the same way: no links, HTML, mentions or broken tables.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlgate.bot.github.facts import PullFacts
from mlgate.bot.pr.queue_block import queue_block
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.pr.review import ReviewResult
from mlgate.checks import report_view as view
from mlgate.checks.report import environment, safe_url
from mlgate.checks.results import GateResult, Metric, Status
from mlgate.checks.wording import clip
from mlgate.names import CHECK_OUTPUT_LIMIT, COMMENT_LIMIT, REPORT_MARKER, STATE_MARKER_PREFIX

_ROW_STEPS = (None, 50, 20, 5, 1)
_CUT_NOTE = "\n\n> ✂️ This report was cut to fit GitHub's size limit; the check runs of each gate have the details.\n"
_BLANK_RUNS = re.compile(r"\n{3,}")  # templates stay readable; the output gets one blank line between blocks
_STATE_RE = re.compile(re.escape(STATE_MARKER_PREFIX) + r"(\{.*?\}) -->")

# Icons and words for the states a gate line can be in.
STATE_ICONS = {
    "pass": "✅",
    "warn": "⚠️",
    "fail": "❌",
    "error": "💥",
    "pending": "⏳",
    "missing": "❔",
    "skipped": "⏭️",
}


@dataclass(frozen=True)
class GateLine:
    """One row of the gate table: a CI check, an `mlgate/<gate>` check run, or the review gate."""

    name: str
    state: str  # a key of STATE_ICONS
    summary: str = ""
    details_url: str | None = None
    metrics: tuple[Metric, ...] = ()  # key numbers (metric vs baseline with delta), from the results JSON
    notes: tuple[str, ...] = ()  # ignored runs, unreadable results, missing baseline, near-miss names
    result: GateResult | None = None  # the gate's whole result (groups, findings), when it was read

    @property
    def shown_state(self) -> str:
        """A gate that passed with warnings reads "warn" (GitHub shows its run as a success)."""
        if self.state == "pass" and self.result is not None and self.result.status == Status.WARN:
            return "warn"
        return self.state

    @property
    def icon(self) -> str:
        return STATE_ICONS.get(self.shown_state, "•")

    @property
    def gate_result(self) -> GateResult | None:
        """The result to show numbers from: the one read from the run, else one made of `metrics`."""
        if self.result is not None:
            return self.result
        status = _LINE_STATUS.get(self.state)
        if not self.metrics or status is None:
            return None
        return GateResult(self.name, status, self.summary, metrics=list(self.metrics), baseline_used=True)

    @property
    def short_summary(self) -> str:
        """The line's summary for the one-line table: the gate's own summary, cut between clauses."""
        text = self.result.summary if self.result is not None and self.result.summary else self.summary
        return clip(text, 160)


_LINE_STATUS = {"pass": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL, "error": Status.ERROR}


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, decided before rendering."""

    facts: PullFacts
    config: RepoConfig
    conclusion: str  # success, failure, pending
    headline: str  # one line, plain text (escaped when rendered)
    next_steps: tuple[str, ...] = ()  # plain text, escaped when rendered
    gates: tuple[GateLine, ...] = ()
    review: ReviewResult | None = None  # None when the config is invalid (no rule was evaluated)
    queue_note: str | None = None  # where the PR is in the merge queue (escaped Markdown); None: no queue
    state: Mapping[str, Any] = field(default_factory=dict)  # hidden, for the next evaluation

    @property
    def queue_block(self) -> str:
        """The queue note between its markers (bot/pr/queue_block.py), or "" without a queue."""
        return queue_block(self.queue_note) if self.queue_note is not None else ""

    @property
    def icon(self) -> str:
        return {"success": "✅", "failure": "❌", "pending": "⏳"}.get(self.conclusion, "•")


@functools.lru_cache(maxsize=1)
def _env() -> Any:
    """One environment per process: it caches the compiled templates (a fresh one per render
    recompiled every template, several times per comment while the table is being fitted)."""
    env = environment()
    env.filters["short_sha"] = lambda sha: (str(sha or "")[:12] or "unknown")
    env.globals["bot_screen"] = first_screen
    return env


@dataclass(frozen=True)
class Screen:
    """The comment's first screen, decided from the gate lines."""

    rows: list[view.BlockRow]
    header: str
    passed: list[str]
    warned: list[str]
    waiting: list[str]


def first_screen(data: ReportData, where: str = "below") -> Screen:
    """What blocks (each gate with the one or two numbers that block it, or its reason in words),
    or, when nothing blocks, what warns; then the names of the gates that passed or still wait.
    `where`: where each gate's other numbers are on this page ("below" in the comment, "in its check
    run" in the `mlgate` check run, which has no gate details)."""
    blocking = [g for g in data.gates if g.shown_state in ("fail", "error")]
    warned = [g for g in data.gates if g.shown_state == "warn"]
    rows: list[view.BlockRow] = []
    for g in blocking or warned:
        result = g.gate_result
        url = safe_url(g.details_url) or None
        if result is not None and result.status != Status.PASS:
            rows += view.block_rows(g.name, view.gate_view(result), url, where)
        else:
            rows.append(view.text_row(g.name, g.icon, g.summary or g.state, url))
    return Screen(
        rows=rows,
        header="blocks on" if blocking else "warns on",
        passed=[g.name for g in data.gates if g.shown_state == "pass"],
        warned=[g.name for g in warned] if blocking else [],
        waiting=[g.name for g in data.gates if g.shown_state in ("pending", "missing")],
    )


def encode_state(state: Mapping[str, Any]) -> str:
    """A hidden HTML comment carrying small JSON state; `--`, `<`, `>` are escaped so user text
    (rule names) can never end the comment early or open a tag."""
    text = json.dumps(dict(state), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    text = text.replace("-", "\\u002d").replace("<", "\\u003c").replace(">", "\\u003e")
    return f"{STATE_MARKER_PREFIX}{text} -->"


def decode_state(body: str | None) -> dict[str, Any]:
    """The state an earlier report stored; {} when absent or unreadable (a hand-edited comment)."""
    match = _STATE_RE.search(body or "")
    if not match:
        return {}
    try:
        value = json.loads(match.group(1))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def render_comment(data: ReportData, limit: int = COMMENT_LIMIT) -> str:
    """The report comment: marker and state first (they survive any cut), then the report."""
    tmpl = _env().get_template("comment.md.j2")
    head = f"{REPORT_MARKER}\n{encode_state(data.state)}\n"
    return _fit(lambda rows: head + tmpl.render(r=data, max_rows=rows), limit)


def render_check(data: ReportData, limit: int = CHECK_OUTPUT_LIMIT) -> tuple[str, str]:
    """(title, summary) of the `mlgate` check run."""
    tmpl = _env().get_template("comment_check.md.j2")
    summary = _fit(lambda rows: tmpl.render(r=data, max_rows=rows), limit)
    return check_title(data), summary


def check_title(data: ReportData) -> str:
    """The check run's title: the headline on one line (GitHub shows it next to the check name)."""
    title = " ".join(data.headline.split())
    return title if len(title) <= 200 else title[:199] + "…"


def _fit(render: Callable[[int | None], str], limit: int) -> str:
    """Render with fewer table rows until the text fits; as a last resort cut it with a note."""
    text = ""
    for rows in _ROW_STEPS:
        text = _BLANK_RUNS.sub("\n\n", render(rows)).strip() + "\n"
        if len(text) <= limit:
            return text
    cut = text[: limit - len(_CUT_NOTE)]
    # Do not leave half an HTML comment or a dangling table row behind.
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    return cut + _CUT_NOTE


__all__ = ["COMMENT_LIMIT", "GateLine", "ReportData", "decode_state", "encode_state", "first_screen",
           "render_check", "render_comment", "safe_url"]

