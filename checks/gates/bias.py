"""The bias gate: per-group rates for each sensitive attribute, the gaps between groups, and
each group's change against the baseline.

One pass of confusion counting over the joint of all sensitive attributes (checks/gates/confusion.py);
every attribute and intersection is a marginal of that, so the cost barely grows with the number
of attributes. Per-group numbers and gaps equal fairlearn's `MetricFrame` (`by_group`,
`difference()`, `ratio()`) and its `equalized_odds_difference` / `demographic_parity_difference`
(tested on real data), except that groups smaller than `min_group_size` are shown but left out of
the gaps, and a rate with a zero denominator is left out instead of counted as 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlgate.checks import progress
from mlgate.checks.config.bias import DEFAULT_LIMITS_TEXT, BiasConfig
from mlgate.checks.config.predictions import PredictionsConfig
from mlgate.checks.errors import InputError
from mlgate.checks.gates import confusion
from mlgate.checks.gates.confusion import GroupCounts
from mlgate.checks.gates.limits import Severity, threshold_check
from mlgate.checks.gates.quality import breach_text, release_read_buffers
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.predictions import class_arrays, load_predictions, score_classes
from mlgate.checks.inputs.tables import require_columns
from mlgate.checks.results import Finding, GateResult, GroupRow, Metric, Status, finding_status

GATE = "bias"
JOIN = "×"  # attribute "race×sex", group "Black×Female"

# which way is worse, for per-group regression against the baseline (None: any change counts)
HIGHER_IS_BETTER: dict[str, bool | None] = {
    "count": None, "selection_rate": None, "base_rate": None, "tpr": True, "tnr": True, "fpr": False,
    "fnr": False, "precision": True, "accuracy": True, "f1": True,
}
def evaluate(
    frame: pd.DataFrame, predictions: PredictionsConfig, cfg: BiasConfig, baseline: GateResult | None
) -> GateResult:
    """Per-group rates, gaps and regressions for every attribute and intersection (pure)."""
    where = predictions.path or "predictions"
    y_true, y_pred = _binary_arrays(frame, predictions, where)
    require_columns(frame.columns, cfg.sensitive, where)
    keys = [confusion.encode(frame[c], c) for c in cfg.sensitive]
    joint = confusion.count(y_true, y_pred, keys)
    progress.note(f"bias: counted {len(y_true):,} rows into {len(joint.codes):,} groups of "
                  f"{', '.join(cfg.sensitive)}")
    return judge_counts(joint, cfg, baseline)


def judge_counts(joint: GroupCounts, cfg: BiasConfig, baseline: GateResult | None) -> GateResult:
    """Everything after counting: works the same on counts merged from chunks."""
    base_rows = {(g.attribute, g.group): g for g in (baseline.groups if baseline else [])}
    metrics: list[Metric] = []
    findings: list[Finding] = []
    rows: list[GroupRow] = []
    for attrs in cfg.groupings():
        attribute = JOIN.join(attrs)
        gc = joint.marginal(attrs)
        values = confusion.rates(gc)
        sizes = gc.n  # one pass over the counts; `gc.n` sums the whole table each time it is read
        judged = sizes >= cfg.min_group_size
        labels = [JOIN.join(g) for g in gc.groups]
        attr_rows = _group_rows(attribute, labels, sizes, judged, values, cfg.shown(), base_rows)
        rows += attr_rows
        small = int((~judged).sum())
        if small:
            findings.append(Finding(
                "info", f"{attribute}: {small} group{'s' if small > 1 else ''} with fewer than "
                f"{cfg.min_group_size} rows shown but not judged", column=attribute, count=small,
                examples=[lab for lab, j in zip(labels, judged, strict=True) if not j][:5], code="bias.small_group"))
        if judged.sum() < 2:
            findings.append(Finding(
                "warn", f"{attribute}: fewer than 2 groups have at least {cfg.min_group_size} rows, so no gap "
                "between groups can be judged", column=attribute, code="bias.too_few_groups"))
        gaps = _gap_metrics(attribute, values, judged, labels, cfg, baseline)
        metrics += gaps
        left_out = _left_out_finding(attribute, values, judged, labels, cfg)
        if left_out is not None:
            findings.append(left_out)
        if judged.sum() >= 2:
            undefined = [m.name for m in gaps if m.value is None]
            if undefined:
                findings.append(Finding(
                    "warn", f"{attribute}: {', '.join(undefined)} not judged: the rate is undefined (zero "
                    "denominator, e.g. no positive labels) in all but one judged group",
                    column=attribute, code="bias.undefined_rate"))
        if cfg.max_group_regression:
            metrics += _regressions(attribute, attr_rows, cfg, baseline, findings)
    if cfg.max_group_regression and baseline is None:
        findings.append(Finding("info", "no baseline: per-group regression limits not applied",
                                code="baseline.missing"))
    if not any(m.limits for m in metrics):
        if _limits_configured(cfg):
            findings.append(Finding("warn", _nothing_judged_text(cfg, baseline), code="bias.nothing_judged"))
        else:
            findings.append(Finding(
                "warn", "no limits configured: this gate reports the groups but cannot block a merge; "
                "remove `limits: {}` to use the defaults, or set limits", code="bias.unjudged"))
    status = Status.worst([m.status for m in metrics] + [finding_status(f.severity) for f in findings]
                          + [r.status for r in rows])
    return GateResult(
        gate=GATE,
        status=status,
        summary=_summary(metrics, rows, cfg, baseline),
        metrics=metrics,
        findings=findings,
        groups=rows,
        baseline_used=baseline is not None,
        details={
            "attributes": [JOIN.join(a) for a in cfg.groupings()],
            "min_group_size": cfg.min_group_size,
            "default_limits": DEFAULT_LIMITS_TEXT if cfg.limits is None else None,
            "rows": int(joint.n.sum()),
        },
    )


def run(config: Any, ctx: RunContext, baseline: GateResult | None) -> GateResult:
    """Read label, prediction (or score) and the sensitive columns only, then evaluate."""
    cfg: BiasConfig | None = config.bias
    if cfg is None:
        raise InputError("no bias section: give bias.sensitive (or --sensitive)")
    pcfg: PredictionsConfig = config.predictions
    update: dict[str, Any] = {"id": None, "timestamp": None}
    if pcfg.prediction and pcfg.path:
        update["score"] = None  # the predicted class is all the counts need
    frame, used, notes = load_predictions(pcfg.model_copy(update=update), ctx, extra_columns=cfg.sensitive)
    release_read_buffers()
    result = evaluate(frame, used, cfg, baseline)
    result.findings += [Finding("info", note, code="predictions.model") for note in notes if note]
    return result


def _binary_arrays(frame: pd.DataFrame, p: PredictionsConfig, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not p.label:
        raise InputError("predictions.label is not set: the bias gate needs the true labels", where=where)
    y_true, y_pred = class_arrays(frame, p, where)
    if y_pred is not None:
        return y_true, y_pred
    if p.score:
        score = frame[p.score]
        if not pd.api.types.is_numeric_dtype(score) or pd.api.types.is_bool_dtype(score) or score.isna().any():
            raise InputError(f"score column {p.score!r} must be numeric without missing values", where=where)
        return y_true, score_classes(score.to_numpy(dtype=np.float64), p, where)
    raise InputError("the bias gate needs predicted classes: set predictions.prediction, or "
                     "predictions.score with predictions.threshold", where=where)


def _gap_metrics(
    attribute: str, values: dict[str, np.ndarray], judged: np.ndarray, labels: list[str], cfg: BiasConfig,
    baseline: GateResult | None,
) -> list[Metric]:
    """max−min and min/max per limited metric, plus equalized-odds and demographic-parity differences."""
    out: list[Metric] = []

    def spread(metric: str) -> tuple[float | None, float | None, str]:
        v = values[metric]
        ok = judged & ~np.isnan(v)
        if ok.sum() < 2:
            return None, None, ""
        idx = np.flatnonzero(ok)
        lo, hi = idx[np.argmin(v[ok])], idx[np.argmax(v[ok])]
        diff = float(v[hi] - v[lo])
        ratio = 1.0 if v[hi] == 0 else float(v[lo] / v[hi])  # all zero: no disparity
        return diff, ratio, f"highest {labels[hi]} {v[hi]:.3g}, lowest {labels[lo]} {v[lo]:.3g}"

    def add(m: Metric, note: str) -> None:
        m.note = note
        base = baseline.metric(m.name, attribute) if baseline else None
        if base is not None:
            m.baseline = base.value
            m.delta = None if m.value is None or base.value is None else m.value - base.value
        out.append(m)

    for metric, lim in cfg.gap_limits.items():
        diff, ratio, note = spread(metric)
        if lim.max_difference is not None or lim.min_ratio is None:
            add(_gap(f"{metric}_difference", diff, "max_difference", lim.max_difference, lim.severity, attribute),
                note)
        if lim.min_ratio is not None or lim.max_difference is None:
            add(_gap(f"{metric}_ratio", ratio, "min_ratio", lim.min_ratio, lim.severity, attribute), note)
    tpr_diff, _, tpr_note = spread("tpr")
    fpr_diff, _, fpr_note = spread("fpr")
    eod = None if tpr_diff is None or fpr_diff is None else max(tpr_diff, fpr_diff)
    eo = cfg.equalized_odds_difference
    add(_gap("equalized_odds_difference", eod, "max_difference", eo.max if eo else None, eo.severity if eo else "fail",
             attribute), f"larger of the tpr and fpr gaps (tpr: {tpr_note}; fpr: {fpr_note})")
    dpd, _, dp_note = spread("selection_rate")
    dp = cfg.demographic_parity_difference
    add(_gap("demographic_parity_difference", dpd, "max_difference", dp.max if dp else None,
             dp.severity if dp else "fail", attribute), f"selection_rate gap ({dp_note})")
    return out


def _gap(name: str, value: float | None, kind: str, threshold: float | None, severity: Severity,
         attribute: str) -> Metric:
    # An unmeasurable gap (fewer than two judged groups) is warned about once per attribute in the
    # findings; it is not judged, so a small sample cannot fail every limit at once.
    return threshold_check(name, value, kind, None if value is None else threshold, severity=severity,
                           slice=attribute, higher_is_better=kind.startswith("min"))


def _regressions(
    attribute: str, rows: list[GroupRow], cfg: BiasConfig, baseline: GateResult | None,
    findings: list[Finding],
) -> list[Metric]:
    """Per group and metric, the change in the bad direction vs the baseline's same group."""
    if baseline is None:
        return []
    out = []
    for metric, tolerance in cfg.max_group_regression.items():
        direction = HIGHER_IS_BETTER[metric]
        worst: float | None = None
        worst_text = ""
        regressed: list[str] = []
        for row in rows:
            cur, base = row.metrics.get(metric), row.baseline.get(metric)
            if not row.judged or cur is None or base is None:
                continue
            change = (base - cur) if direction else (cur - base) if direction is False else abs(cur - base)
            if worst is None or change > worst:
                worst, worst_text = change, f"{row.group} {base:.3g} → {cur:.3g}"
            if change > tolerance + 1e-12:
                row.status = Status.FAIL
                regressed.append(f"{row.group} {base:.3g} → {cur:.3g}")
        kind = "max_drop" if direction else "max_increase" if direction is False else "max_change"
        m = threshold_check(f"{metric}_group_regression", worst, kind, None if worst is None else tolerance,
                            slice=attribute, higher_is_better=False)
        m.note = f"worst group: {worst_text}" if worst_text else "no judged group is in the baseline"
        out.append(m)
        if regressed:
            findings.append(Finding(
                "fail", f"{attribute}: {metric} regressed by more than {tolerance:g} vs base in "
                f"{len(regressed)} group{'s' if len(regressed) > 1 else ''}: {'; '.join(regressed[:5])}",
                column=attribute, count=len(regressed), examples=regressed[:5], code="bias.group_regression"))
    return out


# why a judged group's rate can be undefined (its denominator is zero)
UNDEFINED_BECAUSE = {
    "tpr": "no positive labels", "fnr": "no positive labels", "fpr": "no negative labels",
    "tnr": "no negative labels", "precision": "no positive predictions",
    "f1": "no positive labels or predictions", "selection_rate": "no rows", "base_rate": "no rows",
    "accuracy": "no rows",
}


def _gap_inputs(cfg: BiasConfig) -> dict[str, bool]:
    """Every rate a gap is computed from, and whether a limit judges that gap."""
    out = {m: lim.max_difference is not None or lim.min_ratio is not None for m, lim in cfg.gap_limits.items()}
    eo, dp = cfg.equalized_odds_difference is not None, cfg.demographic_parity_difference is not None
    for m in ("tpr", "fpr"):
        out[m] = out.get(m, False) or eo
    out["selection_rate"] = out.get("selection_rate", False) or dp
    return out


def _left_out_finding(attribute: str, values: dict[str, np.ndarray], judged: np.ndarray, labels: list[str],
                      cfg: BiasConfig) -> Finding | None:
    """Judged groups whose rate is undefined drop out of that rate's gap: say which, and why.

    A warning when a limited gap loses a group (the limit no longer covers it), info otherwise.
    """
    by_group: dict[str, list[str]] = {}
    limited = False
    for metric, is_limited in _gap_inputs(cfg).items():
        gone = np.flatnonzero(judged & np.isnan(values[metric]))
        for i in gone:
            by_group.setdefault(labels[i], []).append(metric)
        limited = limited or (is_limited and gone.size > 0)
    if not by_group:
        return None
    parts = []
    for group, names in by_group.items():
        reasons = sorted({UNDEFINED_BECAUSE[m] for m in names})
        parts.append(f"{group} ({', '.join(sorted(names))}: {'; '.join(reasons)})")
    n = len(by_group)
    return Finding(
        "warn" if limited else "info",
        f"{attribute}: {n} judged group{'s' if n > 1 else ''} left out of a gap because the rate is undefined: "
        + "; ".join(parts[:5]) + ("; …" if n > 5 else ""),
        column=attribute, count=n, examples=list(by_group)[:5], code="bias.group_left_out")


def _limits_configured(cfg: BiasConfig) -> bool:
    return any(_gap_inputs(cfg).values()) or bool(cfg.max_group_regression)


def _nothing_judged_text(cfg: BiasConfig, baseline: GateResult | None) -> str:
    """Limits are configured, yet no number met one: say why, so a reader never mistakes it for a pass."""
    reasons = [f"no attribute has two groups of at least {cfg.min_group_size} rows with a defined rate"]
    remedies = ["more rows", "a lower min_group_size"]
    if cfg.max_group_regression:
        reasons.append("no baseline to compare groups with" if baseline is None
                       else "no judged group is in the baseline")
        if baseline is None:
            remedies.append("a baseline")
    return (f"nothing judged: {' and '.join(reasons)}; this gate cannot block a merge as it is "
            f"({', '.join(remedies[:-1])} or {remedies[-1]} would let it judge)")


def _breach(m: Metric) -> str:
    text = breach_text(m).replace("_difference", " gap").replace("_ratio", " ratio")
    text = text.replace("_group_regression", " regression")
    return f"{text} ({m.note})" if m.note.startswith("highest") else text


def _group_rows(attribute: str, labels: list[str], sizes: np.ndarray, judged: np.ndarray,
                values: dict[str, np.ndarray], shown: list[str],
                base_rows: dict[tuple[str, str], GroupRow]) -> list[GroupRow]:
    """One GroupRow per group, built column-wise: each array is converted to Python once (not one
    numpy scalar per cell), so 30,000 groups cost milliseconds, not seconds."""
    columns = {m: [None if v != v else v for v in values[m].tolist()] for m in shown}  # NaN -> None
    counts = sizes.tolist()
    flags = judged.tolist()
    return [
        GroupRow(
            attribute=attribute,
            group=label,
            count=int(counts[i]),
            judged=bool(flags[i]),
            metrics={m: columns[m][i] for m in shown},
            baseline=dict(base.metrics) if (base := base_rows.get((attribute, label))) is not None else {},
        )
        for i, label in enumerate(labels)
    ]


def _summary(metrics: list[Metric], rows: list[GroupRow], cfg: BiasConfig, baseline: GateResult | None) -> str:
    n_attr = len(cfg.groupings())
    small = sum(not r.judged for r in rows)
    parts = [f"{len(rows)} groups in {n_attr} attribute{'s' if n_attr > 1 else ''}"
             + (f" ({small} below {cfg.min_group_size} rows, not judged)" if small else "")]
    breaches = []
    for status, word in ((Status.FAIL, "failing"), (Status.WARN, "warning")):
        hit = [m for m in metrics if m.status == status]
        if hit:
            shown = "; ".join(_breach(m) for m in hit[:3]) + ("; …" if len(hit) > 3 else "")
            breaches.append(f"{len(hit)} {'metric' if len(hit) == 1 else 'metrics'} {word}: {shown}")
    if breaches:
        parts += breaches
    else:
        eods = [m for m in metrics if m.name == "equalized_odds_difference" and m.value is not None]
        worst = max(eods, key=lambda m: m.value or 0.0, default=None)
        judged_any = any(m.limits for m in metrics)
        text = ("all gaps within limits" if judged_any else "nothing judged (see findings)"
                if _limits_configured(cfg) else "no limits configured (report only)")
        if worst is not None:
            text += f"; largest equalized-odds gap {worst.value:.3g} ({worst.slice})"
        parts.append(text)
    if cfg.limits is None:
        parts.append(f"default limits: {DEFAULT_LIMITS_TEXT}")
    if cfg.max_group_regression and baseline is None:
        parts.append("no baseline: group regressions not checked")
    return ", ".join(parts)
