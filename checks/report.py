"""Markdown reports rendered from templates/*.j2, sized to fit a GitHub comment.

Every value that comes from user data (column names, group labels, messages quoting values) goes
through the `md` filter, which neutralises Markdown and HTML, so a crafted category name cannot
inject links, mentions or markup into a PR comment.
"""

from __future__ import annotations

import importlib.resources
import math
import re
from typing import Any

import jinja2

from mlgate.checks.results import GateResult, Metric, Status
from mlgate.names import COMMENT_LIMIT

GITHUB_COMMENT_LIMIT = COMMENT_LIMIT
# Leave room for what the bot adds around the report (header, footer, hidden markers).
DEFAULT_BUDGET = 60_000
_ROW_STEPS = (None, 200, 50, 20, 5)


def _template_dir() -> str:
    """templates/, installed as the package data of `mlgate.templates` (editable installs map it too)."""
    return str(importlib.resources.files("mlgate.templates"))


# Enough to stop links, images, emphasis, code spans, table breaks, math and raw HTML; parentheses
# are harmless once brackets are escaped, so they stay readable.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")
# At the start of a line these open a heading, a list or a thematic break.
_BLOCK_START = re.compile(r"^(?:([#+-])|(\d{1,9})([.)]))")
ZERO_WIDTH_SPACE = "\u200b"
# What GitHub turns into links or notifications after Markdown: URLs with a scheme or www.
# (cmark-gfm's autolink extension), #12 / owner/repo#12 / GH-12 references, @user and @org/team
# mentions and e-mail addresses. A zero-width space inside each keeps the text readable and links nothing.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp)(?=:)|(www)(?=\.)|(#|\bGH-)(?=\d)|(@)")


def md(value: Any) -> str:
    """Escape text for a Markdown table cell or line so that GitHub shows it literally.

    No markup, no HTML, one line, no block structure at its start, and nothing GitHub would link
    or notify: bare URLs, issue references and @-mentions get a zero-width space (invisible, and
    the text copies back readably). Used for every value from data, results files, configs and
    GitHub users, in the CLI report and in the bot's comments alike.
    """
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = " ".join(text.split())
    text = _BLOCK_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", text)
    return _AUTOLINK.sub(lambda m: m.group(0) + ZERO_WIDTH_SPACE, text)


def code(value: Any) -> str:
    """Text as an inline code span, for hashes, paths and column names: shown exactly as it is.

    Inside a code span nothing is Markdown, HTML or a link, so the only ways out are a run of
    backticks (the fence is made longer than any run in the text) and, in a table, `|` (escaped,
    as GitHub's table parser requires even inside code). One line, like `md`.
    """
    text = " ".join(("" if value is None else str(value)).split()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else "—"


def mermaid_text(value: Any) -> str:
    """Mermaid labels live in double quotes: keep only characters that cannot end or mark them up."""
    return re.sub(r"[^\w .,:/+()×-]", "", str(value))[:40]


def num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def signed(value: Any) -> str:
    return "—" if value is None else ("+" if value > 0 else "") + num(value).replace("-", "−")


def _delta_pair(pair: tuple[Any, Any]) -> str:
    value, base = pair
    return "—" if value is None or base is None else signed(value - base)


def _chart_num(value: Any) -> str:
    return "0" if value is None else f"{float(value):.4f}"


def _severity_icon(severity: str) -> str:
    return {"info": "ℹ️", "warn": "⚠️", "fail": "❌", "error": "💥"}.get(severity, "•")


def _sort_metrics(metrics: list[Metric]) -> list[Metric]:
    """Problems first, so a shortened table still shows what blocks."""
    return sorted(metrics, key=lambda m: -m.status.rank)


def _limit_rows(rows: list[Any], max_rows: int | None) -> list[Any]:
    return list(rows) if not max_rows else list(rows)[:max_rows]


def _group_metric_names(groups: list[Any]) -> list[str]:
    names: list[str] = []
    for row in groups:
        names += [k for k in row.metrics if k not in names and k != "count"]
    return names


def _chart_groups(groups: list[Any], max_rows: int | None) -> list[tuple[str, list[Any]]]:
    """Per attribute, the groups to chart (only when FPR/FNR were computed)."""
    by_attr: dict[str, list[Any]] = {}
    for row in groups:
        if "fpr" in row.metrics or "fnr" in row.metrics:
            by_attr.setdefault(row.attribute, []).append(row)
    limit = min(max_rows or 30, 30)
    return [(a, rows[:limit]) for a, rows in by_attr.items()]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_template_dir()),
        autoescape=False,  # Markdown, not HTML: escaping is explicit through the md filter
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters.update(
        md=md,
        code=code,
        mermaid=mermaid_text,
        num=num,
        signed=signed,
        delta_pair=_delta_pair,
        chart_num=_chart_num,
        severity_icon=_severity_icon,
        sort_metrics=_sort_metrics,
        limit_rows=_limit_rows,
        group_metric_names=_group_metric_names,
        chart_groups=_chart_groups,
    )
    return env


def _fit(render, budget: int) -> str:
    """Render with shrinking table sizes until the text fits the budget."""
    text = ""
    for max_rows in _ROW_STEPS:
        text = render(max_rows)
        if len(text) <= budget:
            return text
    note = "\n\n> ✂️ Report cut to fit a GitHub comment; the results JSON has everything.\n"
    return text[: budget - len(note)] + note


def render_report(results: Any, budget: int = DEFAULT_BUDGET) -> str:
    """The PR report for a whole run (RunResults)."""
    tmpl = environment().get_template("report.md.j2")
    return _fit(lambda rows: tmpl.render(results=results, max_rows=rows, truncated=rows is not None), budget)


def render_gate(gate: GateResult, baseline_note: str = "", budget: int = DEFAULT_BUDGET) -> str:
    """The summary of one gate's check run."""
    tmpl = environment().get_template("check_gate.md.j2")
    return _fit(lambda rows: tmpl.render(gate=gate, baseline_note=baseline_note, max_rows=rows), budget)


def verdict_line(results: Any) -> str:
    status: Status = results.status
    return f"{status.icon} mlgate {status.value}: {results.summary}"
