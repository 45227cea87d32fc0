"""Markdown reports rendered from templates/*.j2, sized to fit a GitHub comment.

Every value that comes from user data (column names, group labels, messages quoting values) goes
through the `md` filter, which neutralises Markdown and HTML, so a crafted category name cannot
inject links, mentions or markup into a PR comment.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Callable
from typing import Any

import jinja2

from mlgate.checks import report_view as view
from mlgate.checks.results import Finding, GateResult, Metric, Status
from mlgate.checks.wording import clip, plural
from mlgate.names import COMMENT_LIMIT

GITHUB_COMMENT_LIMIT = COMMENT_LIMIT
# Leave room for what the bot adds around the report (header, footer, hidden markers).
DEFAULT_BUDGET = 60_000


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


def mermaid_text(value: Any, limit: int = 60) -> str:
    """Mermaid labels live in double quotes: keep only characters that cannot end or mark them up."""
    return re.sub(r"[^\w .,:/+()×-]", "", str(value))[:limit]


def html_text(value: Any, limit: int | None = None) -> str:
    """Text inside raw HTML (a `<summary>`), where Markdown is not parsed, so `md`'s backslashes would
    show: HTML-escaped instead, on one line, with links and mentions neutralised like `md` does."""
    text = " ".join(("" if value is None else str(value)).split())
    if limit:
        text = clip(text, limit)
    text = _AUTOLINK.sub(lambda m: m.group(0) + ZERO_WIDTH_SPACE, text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    # Markdown's own characters as character references: they read the same, and mean nothing even
    # where a renderer would parse Markdown inside the HTML.
    return _HTML_MD_SPECIAL.sub(lambda m: f"&#{ord(m.group(0))};", text)


_HTML_MD_SPECIAL = re.compile(r"[\\`*_\[\]|~$]")


_URL_RE = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~!$&'*+,;=:@%/?#-]*)?")


def safe_url(url: object) -> str:
    """An http(s) URL that cannot break out of a Markdown link target, or "" (then no link is made)."""
    text = str(url or "")
    return text if _URL_RE.fullmatch(text) else ""


def short_hash(value: Any, keep: int = 12) -> str:
    """"sha256:0114…" → "sha256:01147bd5f10f"; a git SHA → its first 12 hex digits. The JSON has the full value."""
    text = str(value or "")
    prefix, _, digest = text.rpartition(":")
    if re.fullmatch(r"[0-9a-fA-F]{16,}", digest):
        return (prefix + ":" if prefix else "") + digest[:keep]
    return text


def _severity_icon(severity: str) -> str:
    return {"info": "ℹ️", "warn": "⚠️", "fail": "❌", "error": "💥"}.get(severity, "•")


_SEVERITY_ORDER = {"error": 0, "fail": 1, "warn": 2, "info": 3}


def _sort_findings(findings: list[Finding]) -> list[Finding]:
    """Problems first; a shortened list still shows what blocks."""
    return sorted(findings, key=lambda f: _SEVERITY_ORDER.get(f.severity, 4))


def _sort_metrics(metrics: list[Metric]) -> list[Metric]:
    """Problems first, so a shortened table still shows what blocks."""
    return sorted(metrics, key=lambda m: -m.status.rank)


def _limit_rows(rows: list[Any], max_rows: int | None) -> list[Any]:
    return list(rows) if not max_rows else list(rows)[:max_rows]


def _status_words(status: Status) -> str:
    return {Status.PASS: "passed", Status.WARN: "passed with warnings", Status.FAIL: "blocks the merge",
            Status.ERROR: "could not be computed"}[status]


def _baseline_sentence(baseline: Any) -> str:
    """Plain text saying what the numbers were compared with (never a cut "unknown comm…")."""
    baseline = baseline or {}
    path, sha = baseline.get("path"), baseline.get("git_sha")
    if sha and path:
        return f"Baseline: the results of commit {short_hash(sha)} ({path})."
    if sha:
        return f"Baseline: the results of commit {short_hash(sha)}."
    if path:
        return f"Baseline: {path} (it does not record its commit)."
    return ""


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
        html=html_text,
        mermaid=mermaid_text,
        num=view.num,
        signed=view.signed,
        short_hash=short_hash,
        safe_url=safe_url,
        chart_num=view.chart_num,
        severity_icon=_severity_icon,
        sort_metrics=_sort_metrics,
        sort_findings=_sort_findings,
        limit_rows=_limit_rows,
        gate_view=view.gate_view,
        metric_row=view.metric_row,
        counts_line=view.counts_line,
        status_words=_status_words,
        examples_table=view.examples_table,
        text_examples=view.text_examples,
        finding_extra=view.finding_extra,
        charts=view.charts,
        group_tables=view.group_tables,
        group_change=view.group_change,
        short_header=view.short_header,
        rate_label=view.rate_label,
        plural=lambda n, noun, many=None: plural(n, noun, many),
    )
    env.globals.update(first_screen=view.first_screen, baseline_sentence=_baseline_sentence,
                       limits_advice=view.LIMITS_ADVICE, limit_colour=view.LIMIT_COLOUR)
    return env


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """One environment per process: it caches the compiled templates between renders."""
    return environment()


# Each render tries these row caps in turn until the text fits (None: every metric and finding,
# and the default caps of the group table and charts).
_ROW_STEPS = (None, 50, 20, 5)
_CUT_NOTE = "\n\n> ✂️ Report cut to fit a GitHub comment; the results JSON has everything.\n"


def fit(render: Callable[[int | None], str], budget: int, steps: tuple[int | None, ...] = _ROW_STEPS) -> str:
    """Render with shrinking table sizes until the text fits the budget; as a last resort cut it
    at a line boundary, with a note that says so."""
    text = ""
    for max_rows in steps:
        text = _BLANK_RUNS.sub("\n\n", render(max_rows))
        if len(text) <= budget:
            return text
    cut = text[: budget - len(_CUT_NOTE)]
    return cut[: cut.rfind("\n")] + _CUT_NOTE


_BLANK_RUNS = re.compile(r"\n{3,}")  # templates stay readable; the output gets one blank line between blocks


def render_report(results: Any, budget: int = DEFAULT_BUDGET) -> str:
    """The report of a whole run (RunResults): the CLI's --markdown and the job summary."""
    tmpl = _env().get_template("report.md.j2")
    return fit(lambda rows: tmpl.render(results=results, max_rows=rows), budget)


def render_gate(gate: GateResult, baseline_note: str = "", budget: int = DEFAULT_BUDGET) -> str:
    """The summary of one gate's check run (`mlgate/<gate>`): the gate's section, always expanded."""
    tmpl = _env().get_template("check_gate.md.j2")
    return fit(lambda rows: tmpl.render(gate=gate, baseline_note=baseline_note, max_rows=rows), budget)


def verdict_line(results: Any) -> str:
    status: Status = results.status
    return f"{status.icon} mlgate {status.value}: {results.summary}"


# What templates and other modules use from the view module (and `gates.py` of the bot imports).
num = view.num
signed = view.signed
