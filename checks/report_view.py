"""What a report shows for a gate, decided in plain Python before any template runs.

The templates only lay out what this module decides: which numbers block (and the one or two that
go on the first screen), how a number is written next to its limit, which groups a table or chart
shows when there are thousands, what a chart draws and what its legend says, how a finding's
examples become a small table, and what to do next. Everything is pure and unit-tested; strings
returned here are plain text (the templates escape them with `md`), except where a docstring says
the value is already Markdown-safe (numbers and fixed words only).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlgate.checks.results import Finding, GateResult, GroupRow, LimitCheck, Metric, Status
from mlgate.checks.wording import clip, plural

# ---------------------------------------------------------------------------------------------
# Numbers

SIGNIFICANT = 3  # digits a reader needs; the results JSON keeps full precision
MINUS = "−"
NBSP = "\u00a0"


def num(value: Any, digits: int = SIGNIFICANT) -> str:
    """A number for reading: 3 significant digits, thousands separated, "—" for none or NaN."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}".replace("-", MINUS)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}".replace("-", MINUS)
    text = f"{x:.{digits}g}"
    if "e" in text:
        if abs(x) >= 1:  # .3g of 999.7 is "1e+03"
            return f"{x:,.0f}".replace("-", MINUS)
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text.replace("-", MINUS)


def signed(value: Any, digits: int = SIGNIFICANT) -> str:
    """A change: "+0.242", "−0.419", "0"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    text = num(value, digits)
    return text if text.startswith(MINUS) or text == "0" else "+" + text


def num_beside(value: Any, thresholds: Iterable[float], digits: int = SIGNIFICANT) -> str:
    """`num(value)`, with more digits when rounding would make it look equal to a threshold it is
    not equal to (0.2504 next to "≤ 0.25" must not read "0.25")."""
    if value is None or not isinstance(value, int | float) or isinstance(value, bool):
        return num(value, digits)
    for d in range(digits, 13):
        text = num(value, d)
        if all(text != num(t, d) or value == t for t in thresholds):
            return text
    return num(value, 12)


# ---------------------------------------------------------------------------------------------
# Metric names, values and limits

RATE_LABELS = {
    "fpr": "FPR", "fnr": "FNR", "tpr": "TPR", "tnr": "TNR", "f1": "F1", "roc_auc": "ROC AUC",
    "psi": "PSI", "ks_statistic": "KS statistic", "chi2_pvalue": "χ² p-value", "cramers_v": "Cramér's V",
    "selection_rate": "selection rate", "base_rate": "base rate", "average_precision": "average precision",
    "log_loss": "log loss", "r2": "R²", "mae": "MAE", "rmse": "RMSE", "mse": "MSE",
}
SPECIAL_LABELS = {
    "equalized_odds_difference": "equalized-odds gap",
    "demographic_parity_difference": "demographic-parity gap",
}
# Short column headers for the per-group table, so that it fits a comment's width.
SHORT_HEADERS = {"selection_rate": "sel. rate", "accuracy": "acc.", "precision": "prec.", "base_rate": "base rate"}


def metric_label(metric: Metric | str) -> str:
    """A metric's name for people: "fnr_difference" → "FNR gap", "changed_share" → "changed share"."""
    m = metric if isinstance(metric, Metric) else None
    name = m.name if m is not None else str(metric)
    if name in SPECIAL_LABELS:
        return SPECIAL_LABELS[name]
    if name.endswith("_group_regression"):
        rate = rate_label(name.removesuffix("_group_regression"))
        kinds = {lim.kind for lim in (m.limits if m is not None else [])}
        word = "drop" if "max_drop" in kinds else "rise" if "max_increase" in kinds else "change"
        return f"{rate} {word}, worst group"
    for suffix, form in (("_difference", "{} gap"), ("_ratio", "{} ratio")):
        if name.endswith(suffix):
            return form.format(rate_label(name.removesuffix(suffix)))
    return rate_label(name)


def rate_label(name: str) -> str:
    return RATE_LABELS.get(name, name.replace("_", " "))


def short_header(name: str) -> str:
    return SHORT_HEADERS.get(name) or rate_label(name)


def is_share(m: Metric) -> bool:
    """Shares (of rows, of features) read best as percentages."""
    return m.name.endswith("_share") or any(lim.kind == "max_share" for lim in m.limits)


def value_text(m: Metric, value: Any = "value") -> str:
    """The metric's value (or `value`) formatted the way its limits are written."""
    x = m.value if value == "value" else value
    thresholds = [lim.threshold for lim in m.limits if not lim.kind.startswith("max_relative")]
    if is_share(m) and isinstance(x, int | float) and not isinstance(x, bool):
        return num_beside(x * 100, [t * 100 for t in thresholds]) + "%"
    return num_beside(x, thresholds)


def change_text(m: Metric) -> str:
    if m.delta is None:
        return "—"
    return signed(m.delta * 100) + "%" if is_share(m) else signed(m.delta)


LIMIT_FORMS = {
    "min": "≥ {}", "max": "≤ {}", "max_difference": "≤ {}", "max_gap": "≤ {}", "min_ratio": "≥ {}",
    "max_share": "≤ {}", "max_drop": "drop ≤ {}", "max_increase": "rise ≤ {}", "max_change": "change ≤ {}",
    "max_relative_drop": "drop ≤ {} of base", "max_relative_increase": "rise ≤ {} of base",
}


def limit_text(m: Metric, lim: LimitCheck) -> str:
    """One limit as it reads next to the value: "≤ 0.25", "drop ≤ 0.01", "≤ 2%" (share), with
    "(warning)" when breaking it only warns."""
    if lim.kind.startswith("max_relative") or is_share(m):
        threshold = num(lim.threshold * 100) + "%"
    else:
        threshold = num(lim.threshold)
    form = LIMIT_FORMS.get(lim.kind, lim.kind.replace("_", " ") + " {}")
    text = form.format(threshold).replace(" ", NBSP)  # "≤ 0.25" never breaks across lines in a narrow cell
    return text + " (warning)" if lim.severity == Status.WARN else text


def limits_text(m: Metric, breached_only: bool = False) -> str:
    lims = [lim for lim in m.limits if not breached_only or lim.status != Status.PASS] or m.limits
    return "; ".join(limit_text(m, lim) for lim in lims) or "—"


def judged(m: Metric) -> bool:
    """A metric with a limit is judged; one without is only reported (never shown with a ✅).
    A metric a results file marks failing or warning counts as judged even without its limits."""
    return bool(m.limits) or m.status != Status.PASS


@dataclass(frozen=True)
class MetricRow:
    """One line of a metrics table, every field ready to print (label and slice still need `md`)."""

    icon: str
    label: str
    slice: str
    value: str
    limit: str
    baseline: str
    change: str
    note: str


def metric_row(m: Metric) -> MetricRow:
    return MetricRow(
        icon=m.status.icon if judged(m) else "",
        label=metric_label(m),
        slice="" if m.slice in ("all", "") else m.slice,
        value=value_text(m),
        limit=limits_text(m) if judged(m) else "not judged",
        baseline=value_text(m, m.baseline),
        change=change_text(m),
        note=m.note.removeprefix("reported, not judged; "),
    )


# ---------------------------------------------------------------------------------------------
# A gate: what blocks, what passes, what is only reported

BLOCKERS_SHOWN = 2  # numbers per gate on the first screen


@dataclass
class GateView:
    """A gate as the report presents it."""

    gate: GateResult
    problems: list[Metric]  # judged and not passing: failing first, then warnings
    passing: list[Metric]  # judged and within their limits
    reported: list[Metric]  # no limit: reported, not judged
    blockers: list[Metric]  # the first numbers of `problems` at the gate's own severity
    reason: str  # when no number explains the status: the finding or summary that does
    more: str  # "9 more failing, 2 warning" beyond `blockers`, or ""
    summary: str  # the gate's summary, cut between clauses

    @property
    def status(self) -> Status:
        return self.gate.status

    @property
    def expanded(self) -> bool:
        return self.gate.status != Status.PASS


SUMMARY_CHARS = 240


def gate_view(g: GateResult) -> GateView:
    problems = sorted((m for m in g.metrics if judged(m) and m.status != Status.PASS), key=lambda m: -m.status.rank)
    passing = [m for m in g.metrics if judged(m) and m.status == Status.PASS]
    reported = [m for m in g.metrics if not judged(m)]
    level = {Status.FAIL, Status.ERROR} if g.status in (Status.FAIL, Status.ERROR) else {Status.WARN}
    at_level = [m for m in problems if m.status in level]
    blockers = at_level[:BLOCKERS_SHOWN] if g.status != Status.PASS else []
    reason = ""
    if g.status != Status.PASS and not blockers:
        finding = next((f for f in g.findings if _finding_status(f) in level), None)
        reason = clip(finding.message if finding else g.summary, 160)
    failing = sum(m.status in (Status.FAIL, Status.ERROR) for m in problems)
    warning = sum(m.status == Status.WARN for m in problems)
    shown_fail = sum(m.status in (Status.FAIL, Status.ERROR) for m in blockers)
    shown_warn = len(blockers) - shown_fail
    parts = []
    if failing - shown_fail:
        parts.append(f"{failing - shown_fail} more failing")
    if warning - shown_warn:
        parts.append(f"{warning - shown_warn} {'more ' if shown_warn else ''}warning")
    return GateView(g, problems, passing, reported, blockers, reason, ", ".join(parts),
                    clip(g.summary or g.status.value, SUMMARY_CHARS))


def _finding_status(f: Finding) -> Status:
    return {"warn": Status.WARN, "fail": Status.FAIL, "error": Status.ERROR}.get(f.severity, Status.PASS)


def counts_line(view: GateView) -> str:
    """"11 failing · 2 warning · 8 passing · 2 reported, not judged" (the parts that are not zero)."""
    failing = sum(m.status in (Status.FAIL, Status.ERROR) for m in view.problems)
    warning = len(view.problems) - failing
    parts = [(failing, "failing"), (warning, "warning"), (len(view.passing), "passing"),
             (len(view.reported), "reported, not judged")]
    return " · ".join(f"{n} {word}" for n, word in parts if n)


# What to do next, per gate; a gate without an entry gets DEFAULT_ADVICE. Plain text; "{where}" says
# where the gate's details are ("below" in the run report, "in its check run" in the bot's).
ADVICE = {
    "data": "fix the data the findings name, or the schema if the data is right",
    "quality": "improve the model until each number meets its limit",
    "bias": "look at the groups behind each gap (charts and table {where}) and change the model or its training "
            "data until the gaps are within their limits",
    "skew": "compare the drifted features' training and serving data; retrain on data like serving's or fix the "
            "pipeline that differs",
    "regression": "check that the changed predictions are intended; list intended ones under "
                  "regression.acknowledge, or fix the model",
    "features": "register each feature named {where} with a description and an owner, and update the docs of "
                "changed features",
    "tests": "fix the failing tests (their names and messages are in the check run)",
}
DEFAULT_ADVICE = "fix what the findings {where} name"
ERROR_ADVICE = "it could not be computed: fix the input its message names and run it again"


def limits_advice(base: str = "the base branch") -> str:
    """Where a wrong limit is changed, and why not in the pull request."""
    return (f"If a limit itself is wrong, change it in .github/mlgate.yml on {base}: the gates always use the base "
            "branch's config, so a pull request cannot loosen its own limits.")


LIMITS_ADVICE = limits_advice()


def advice(g: GateResult, where: str = "below") -> str:
    """What the author of a change should do about a gate that blocks it (plain text, no final stop)."""
    if g.status == Status.ERROR:
        return ERROR_ADVICE
    return ADVICE.get(g.gate, DEFAULT_ADVICE).replace("{where}", where)


# ---------------------------------------------------------------------------------------------
# Findings and their examples


@dataclass(frozen=True)
class ExamplesTable:
    """A finding's examples as a small table: headers and cells are plain text (escape them)."""

    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]  # right-align these columns
    caption: str


EXAMPLES_SHOWN = 3
EXAMPLE_COLUMNS = 5


def examples_table(f: Finding, shown: int = EXAMPLES_SHOWN) -> ExamplesTable | None:
    """Dict examples (rows of data) as a table with rounded numbers; None for text examples."""
    rows = [e for e in f.examples if isinstance(e, dict)][:shown]
    if not rows:
        return None
    headers: list[str] = []
    for row in rows:
        headers += [str(k) for k in row if str(k) not in headers]
    headers = headers[:EXAMPLE_COLUMNS]
    cells = [[_cell(row.get(h)) for h in headers] for row in rows]
    numeric = [all(isinstance(row.get(h), int | float) and not isinstance(row.get(h), bool) for row in rows)
               for h in headers]
    total = f.count if f.count is not None else len(f.examples)
    caption = (f"{len(rows)} of {plural(total, 'row')}; the results JSON lists them" if total > len(rows)
               else plural(len(rows), "row"))
    return ExamplesTable(headers, cells, numeric, caption)


def _cell(value: Any) -> str:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return num(value)
    if value is None:
        return "—"
    return clip(str(value), 40)


def text_examples(f: Finding) -> list[str]:
    """Text examples not already quoted in the message (so nothing is said twice)."""
    return [clip(str(e), 60) for e in f.examples[:EXAMPLES_SHOWN]
            if not isinstance(e, dict) and str(e) not in f.message]


def finding_extra(f: Finding) -> str:
    """"(column `x`, 3 rows)"-style detail, only what the message does not already say. Plain text."""
    parts = []
    if f.column and f.column not in f.message:
        parts.append(f"column {f.column}")
    if f.count is not None and f.count > len(f.examples) and f"{f.count}" not in f.message.replace(",", ""):
        parts.append(plural(f.count, "case"))
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Groups (the bias gate's table and charts)

GROUPS_SHOWN = 50  # rows of the per-group table when nothing tighter is asked for
CHART_BARS = 12  # bars per chart; beyond, the highest and the lowest half each
CHART_RATES = ("fpr", "fnr")
CHART_COLOURS = {"fpr": "#0969da", "fnr": "#8250df"}
LIMIT_COLOUR = "#cf222e"


@dataclass
class GroupTable:
    attribute: str
    columns: list[str]  # metric names
    rows: list[GroupRow]
    total: int  # groups of this attribute
    with_baseline: bool


@dataclass
class Chart:
    """One bar per group for one rate of one attribute, with the gap limit drawn as a line."""

    attribute: str
    rate: str
    labels: list[str]  # plain text; the template makes them Mermaid-safe
    values: list[float]
    limit: float | None  # where the line goes: lowest judged rate + allowed gap
    legend: str  # plain text
    colour: str
    height: int
    judged_groups: int
    shown_note: str = ""
    axis_max: float = 1.0
    limit_values: list[float] = field(default_factory=list)


def group_columns(rows: Sequence[GroupRow]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        if row.metrics.keys() - names.keys():
            names.update(dict.fromkeys(row.metrics))
    names.pop("count", None)
    return list(names)


@dataclass
class GroupTables:
    tables: list[GroupTable]
    note: str  # what was left out, or ""
    unjudged: bool  # some group is too small to judge
    groups: int
    with_baseline: bool


def group_tables(g: GateResult, max_rows: int | None = None) -> GroupTables:
    """Per attribute, the groups to list (all when they fit; else failing groups, the highest and
    lowest of each charted rate, then the largest), and a note saying what was left out."""
    cap = max_rows or GROUPS_SHOWN
    by_attr: dict[str, list[GroupRow]] = {}
    for row in g.groups:
        by_attr.setdefault(row.attribute, []).append(row)
    if not by_attr:
        return GroupTables([], "", False, 0, False)
    per_attr = max(5, cap // len(by_attr))
    tables, hidden = [], 0
    for attribute, rows in by_attr.items():
        chosen = rows if len(rows) <= per_attr else _pick_groups(rows, per_attr)
        hidden += len(rows) - len(chosen)
        tables.append(GroupTable(attribute, group_columns(rows), chosen, len(rows),
                                 any(r.baseline for r in chosen)))
    note = ""
    if hidden:
        shown = len(g.groups) - hidden
        note = (f"Showing {shown:,} of {plural(len(g.groups), 'group')}: per attribute the failing groups, the "
                "highest and lowest FPR and FNR, then the largest groups. The results JSON has every group.")
    return GroupTables(tables, note, not all(r.judged for r in g.groups), len(g.groups),
                       any(t.with_baseline for t in tables))


def _pick_groups(rows: list[GroupRow], cap: int) -> list[GroupRow]:
    keep: dict[int, None] = {}
    for i, r in enumerate(rows):
        if r.status != Status.PASS and r.judged:
            keep[i] = None
    judged_idx = [i for i, r in enumerate(rows) if r.judged]
    for rate in CHART_RATES:
        defined = [i for i in judged_idx if rows[i].metrics.get(rate) is not None]
        if defined:
            keep[max(defined, key=lambda i: rows[i].metrics[rate] or 0.0)] = None
            keep[min(defined, key=lambda i: rows[i].metrics[rate] or 0.0)] = None
    for i in sorted(range(len(rows)), key=lambda i: (not rows[i].judged, -rows[i].count)):
        if len(keep) >= cap:
            break
        keep[i] = None
    return [rows[i] for i in sorted(list(keep)[:cap])]


@dataclass
class ChartGroup:
    """The charts of one attribute; `open` when one of their gaps fails or warns."""

    attribute: str
    open: bool
    charts: list[Chart]


def charts(g: GateResult, max_bars: int = CHART_BARS) -> list[ChartGroup]:
    """For each attribute, one chart per rate (FPR, FNR): the groups as bars, highest first (judged
    groups, then the ones too small to judge, marked), the gap limit as a line, and a legend."""
    by_attr: dict[str, list[GroupRow]] = {}
    for row in g.groups:
        if any(rate in row.metrics for rate in CHART_RATES):
            by_attr.setdefault(row.attribute, []).append(row)
    out = []
    for attribute, rows in by_attr.items():
        gaps = [g.metric(f"{rate}_difference", attribute) for rate in CHART_RATES]
        open_ = any(m is not None and m.status != Status.PASS for m in gaps)
        out.append(ChartGroup(attribute, open_, [_chart(g, attribute, rate, rows, max_bars) for rate in CHART_RATES]))
    return out


def _chart(g: GateResult, attribute: str, rate: str, rows: list[GroupRow], max_bars: int) -> Chart:
    defined = [r for r in rows if r.judged and r.metrics.get(rate) is not None]
    note = ""
    if len(defined) > max_bars:  # thousands of groups: the extremes only, without sorting them all
        half = max_bars // 2
        note = (f"the {half} highest and {half} lowest of {len(defined):,} judged groups; "
                f"{len(rows) - 2 * half:,} more groups are in the results JSON")
        judged_rows = (heapq.nlargest(half, defined, key=lambda r: r.metrics[rate] or 0.0)
                       + heapq.nsmallest(half, defined, key=lambda r: r.metrics[rate] or 0.0)[::-1])
        undefined, small = [], []
    else:
        judged_rows = sorted(defined, key=lambda r: -(r.metrics[rate] or 0.0))
        undefined = [r for r in rows if r.judged and r.metrics.get(rate) is None]
        small = [r for r in rows if not r.judged]
        room = max_bars - len(judged_rows)
        extra = len(undefined) + len(small)
        if extra > room:
            note = f"{extra - room:,} groups left out of the chart (too small or without a {rate_label(rate)})"
        undefined, small = undefined[:room], small[: max(0, room - len(undefined))]
    label = rate_label(rate)
    labels = [f"{r.group} {num(r.metrics[rate])}" for r in judged_rows]
    values = [float(r.metrics[rate] or 0.0) for r in judged_rows]
    labels += [f"{r.group} (no {label})" for r in undefined]
    values += [0.0 for _ in undefined]
    labels += [f"{r.group} {num(r.metrics.get(rate))} (not judged)" for r in small]
    values += [float(r.metrics.get(rate) or 0.0) for r in small]
    gap = g.metric(f"{rate}_difference", attribute)
    lim = next((x for x in (gap.limits if gap else []) if x.kind == "max_difference"), None)
    limit = None
    lowest = None
    if lim is not None and judged_rows:
        lowest = min(judged_rows, key=lambda r: r.metrics[rate] or 0.0)
        limit = float(lowest.metrics[rate] or 0.0) + lim.threshold
    small_words = ""
    if small:
        min_size = g.details.get("min_group_size")
        small_words = (f" Groups marked (not judged) have fewer than {min_size} rows." if min_size is not None
                       else " Groups marked (not judged) are too small to judge.")
    if limit is not None and lowest is not None and lim is not None:
        legend = (f"Bars: {label} of each {attribute} group, highest first. Red line: the limit, the lowest judged "
                  f"{label} ({lowest.group} {num(lowest.metrics[rate])}) plus the allowed gap {num(lim.threshold)} "
                  f"= {num(limit)}; a bar past the line breaks the limit. Ticks every 0.1 from 0.{small_words}")
    else:
        legend = (f"Bars: {label} of each {attribute} group, highest first. No line: no gap limit is set on "
                  f"{label}. Ticks every 0.1 from 0.{small_words}")
    n_bars = len(values)
    axis_max = max(1.0, math.ceil((limit or 0.0) * 10) / 10)
    return Chart(attribute, rate, labels, values, limit, legend, CHART_COLOURS[rate],
                 height=max(120, 50 + 28 * n_bars), judged_groups=len(judged_rows), shown_note=note,
                 axis_max=axis_max, limit_values=[limit] * n_bars if limit is not None else [])


def chart_num(value: float) -> str:
    return f"{float(value):.4f}"


# ---------------------------------------------------------------------------------------------
# The first screen: verdict, what blocks with its numbers, what to do next


@dataclass(frozen=True)
class BlockRow:
    """One line of the first screen's table. `gate`, `label`, `slice` are plain text (escape them);
    `value`, `limit`, `baseline` are numbers and fixed words only."""

    icon: str
    gate: str
    label: str
    slice: str = ""
    value: str = ""
    limit: str = ""
    baseline: str = ""
    first: bool = True  # the first line of its gate: the gate's name is printed
    url: str | None = None
    more: bool = False  # "and N more …": printed in italics


def block_rows(name: str, view: GateView, url: str | None = None, where: str = "below") -> list[BlockRow]:
    """The lines of one blocking (or warning) gate: its first numbers, or the reason in words; `where`
    says where the rest of its numbers are ("below", or "in its check run" where the page has no details)."""
    icon = view.status.icon
    if not view.blockers:
        return [BlockRow(icon, name, view.reason or view.summary, url=url)]
    rows = []
    for i, m in enumerate(view.blockers):
        rows.append(BlockRow(icon, name, metric_label(m), "" if m.slice in ("all", "") else m.slice,
                             value_text(m), limits_text(m, breached_only=True), value_text(m, m.baseline),
                             first=i == 0, url=url))
    if view.more:
        rows.append(BlockRow(icon, name, f"and {view.more} ({where})", first=False, url=url, more=True))
    return rows


def text_row(name: str, icon: str, text: str, url: str | None = None) -> BlockRow:
    """A line for a gate without numbers (a CI check, the review): the reason in words."""
    return BlockRow(icon, name, clip(text, 160), url=url)


@dataclass
class FirstScreen:
    rows: list[BlockRow]  # blocking gates; warning gates when nothing blocks
    header: str  # "blocks on" / "warns on"
    steps: list[tuple[str, str]]  # (gate, what to do), plain text
    warned: list[str]  # gates that passed with warnings (when something else blocks)
    passed: list[str]
    errors: list[str]


def first_screen(views: Sequence[GateView]) -> FirstScreen:
    blocking = [v for v in views if v.status in (Status.FAIL, Status.ERROR)]
    warned = [v for v in views if v.status == Status.WARN]
    shown = blocking or warned
    rows = [row for v in shown for row in block_rows(v.gate.gate, v)]
    steps = [(v.gate.gate, advice(v.gate)) for v in shown]
    return FirstScreen(
        rows=rows,
        header="blocks on" if blocking else "warns on",
        steps=steps,
        warned=[v.gate.gate for v in warned] if blocking else [],
        passed=[v.gate.gate for v in views if v.status == Status.PASS],
        errors=[v.gate.gate for v in views if v.status == Status.ERROR],
    )


def group_change(row: GroupRow, metric: str) -> str:
    now, base = row.metrics.get(metric), row.baseline.get(metric)
    return "—" if now is None or base is None else signed(now - base)
