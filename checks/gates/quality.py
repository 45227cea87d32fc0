"""The quality gate: classification or regression metrics, judged against floors and the baseline.

Metrics have scikit-learn's definitions (tests assert equality to 1e-9) but are computed here in a
few vectorised passes: accuracy/precision/recall/f1 from confusion counts, roc_auc and
average_precision from one sort of the positive and of the negative scores (no argsort of the whole
table), log_loss/brier in place. That is what keeps the gate, file read included, faster than
calling the scikit-learn functions one by one on arrays already in memory.

An optional future-data slice scores rows after a training cut-off separately ("future") from the
rest ("holdout") and reports the gap, so a model that only looks good on old data is caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from mlgate.checks.config.predictions import PredictionsConfig
from mlgate.checks.config.quality import (
    CLASSIFICATION_METRICS,
    COUNT_METRICS,
    HIGHER_IS_BETTER,
    PROBABILITY_METRICS,
    SCORE_METRICS,
    FutureConfig,
    QualityConfig,
)
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates import confusion
from mlgate.checks.gates.classes import encode_classes, shown_values
from mlgate.checks.gates.limits import MetricLimits, judge, threshold_check
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.predictions import (
    class_arrays,
    load_predictions,
    score_classes,
    scores_outside_unit,
    threshold_error,
)
from mlgate.checks.results import Finding, GateResult, Metric, Status, finding_status

GATE = "quality"

MAX_DETAIL_CLASSES = 50

@dataclass
class _Scores:
    values: dict[str, float | None]
    reasons: dict[str, str] = field(default_factory=dict)  # why a value is None or a convention


def evaluate(
    frame: pd.DataFrame, predictions: PredictionsConfig, cfg: QualityConfig, baseline: GateResult | None
) -> GateResult:
    """Score the predictions and judge every metric against its limits and the baseline (pure)."""
    where = predictions.path or "predictions"
    if not predictions.label:
        raise InputError("predictions.label is not set: the quality gate needs the true labels", where=where)
    findings: list[Finding] = []
    explicit = cfg.metrics is not None
    skip: set[str] = set()
    details: dict[str, Any] = {}
    scorer: Any = _classification_scores if cfg.task == "classification" else _regression_scores
    if cfg.task == "classification":
        y, y_hat, score, skip = _classification_arrays(frame, predictions, cfg, where, findings)
    elif cfg.task == "multiclass":
        y, y_hat, names_of = _multiclass_arrays(frame, predictions, where)
        score, k = None, len(names_of)
        details["classes"], class_findings = _per_class(y, y_hat, names_of)
        findings += class_findings
        scorer = partial(_multiclass_scores, k)
    else:
        y, y_hat, score = _regression_arrays(frame, predictions, where)
    main = [m for m in cfg.main_metrics(has_score=score is not None, has_class=y_hat is not None)
            if m not in skip]

    slices = _slices(frame, predictions, cfg, main, where, findings)
    metrics: list[Metric] = []
    values: dict[str, dict[str, float | None]] = {}
    for slice_name, mask, names, limits in slices:
        count = len(y) if mask is None else int(mask.sum())
        if count == 0:
            findings.append(Finding("warn", f"slice {slice_name!r} has no rows: its metrics are not computed",
                                    code=f"quality.empty_{slice_name}"))
            continue
        scores = scorer(_take(y, mask), _take(y_hat, mask), _take(score, mask), names)
        values[slice_name] = scores.values
        for name in names:
            value = scores.values.get(name)
            metrics.append(
                judge(name, value, limits.get(name), higher_is_better=HIGHER_IS_BETTER[name],
                      baseline=_base_value(baseline, name, slice_name), slice=slice_name)
            )
            if name in scores.reasons:
                findings.append(Finding("info", f"{_label(name, slice_name)}: {scores.reasons[name]}",
                                        code=f"quality.{name}"))
    if cfg.future and "holdout" in values and "future" in values:
        metrics += _gaps(values["holdout"], values["future"], cfg.future, baseline)
    if metrics and not _has_limits(cfg):
        findings.append(Finding(
            "warn", "no limits configured: this gate reports the metrics but cannot block a merge; "
            "add limits under quality.metrics (e.g. roc_auc: {min: 0.7, max_drop: 0.01})", code="quality.unjudged"))
    elif _has_limits(cfg) and not any(m.limits for m in metrics):
        why = "no baseline for the drop limits" if baseline is None else "no configured limit could be applied"
        findings.append(Finding(
            "warn", f"nothing judged: {why}, and no absolute limit (min/max) applies; this gate cannot block a "
            "merge as it is", code="quality.nothing_judged"))
    statuses = [m.status for m in metrics] + [finding_status(f.severity) for f in findings]
    status = Status.worst(statuses)
    return GateResult(
        gate=GATE,
        status=status,
        summary=_summary(metrics, cfg, baseline),
        metrics=metrics,
        findings=findings,
        baseline_used=baseline is not None,
        details={
            "task": cfg.task,
            "rows": len(y),
            "slices": {s: (len(y) if m is None else int(m.sum())) for s, m, _, _ in slices},
            "limits_configured": explicit,
            **details,
        },
    )


def run(config: Any, ctx: RunContext, baseline: GateResult | None) -> GateResult:
    """Read only the columns the configured metrics need, then evaluate."""
    cfg: QualityConfig = config.quality or QualityConfig()
    pcfg: PredictionsConfig = config.predictions
    if cfg.future and not pcfg.timestamp:
        raise ConfigError("quality.future needs predictions.timestamp: the column that dates each row")
    wanted = set(cfg.main_metrics(has_score=pcfg.score is not None, has_class=True))
    if cfg.future:
        wanted |= set(cfg.future.metrics) | set(cfg.future.max_gap)
    update: dict[str, Any] = {"id": None, "timestamp": pcfg.timestamp if cfg.future else None}
    if cfg.task == "multiclass":
        update["score"] = None  # every multiclass metric comes from the predicted class
    if cfg.task == "classification" and pcfg.path and cfg.metrics is not None:
        if not wanted & set(SCORE_METRICS) and pcfg.prediction:
            update["score"] = None  # the predicted class suffices
        if not wanted & set(COUNT_METRICS):
            update["prediction"] = None  # only score metrics
    frame, used, notes = load_predictions(pcfg.model_copy(update=update), ctx)
    release_read_buffers()
    result = evaluate(frame, used, cfg, baseline)
    result.findings += [Finding("info", note, code="predictions.model") for note in notes if note]
    return result


def release_read_buffers() -> None:
    """Hand the memory Arrow's allocator kept from the Parquet read back to the OS before the
    metrics allocate their own (otherwise both count towards the process's peak)."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return
    pa.default_memory_pool().release_unused()


# ---- inputs -------------------------------------------------------------------------------------


def _classification_arrays(
    frame: pd.DataFrame, p: PredictionsConfig, cfg: QualityConfig, where: str, findings: list[Finding]
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, set[str]]:
    """Labels, predicted classes and scores as arrays, plus default metrics the scores cannot support."""
    y, y_hat = class_arrays(frame, p, where)
    score = None
    if p.score:
        score = _numeric(frame[p.score], "score", where)
    explicit = cfg.metrics is not None or bool(cfg.future)
    skip: set[str] = set()
    outside = scores_outside_unit(score) if score is not None else (0, 0.0, 0.0)
    if y_hat is None and score is not None:
        if p.threshold is None and outside[0]:
            wanted = set(cfg.main_metrics(has_score=True, has_class=True)) | _future_names(cfg)
            if explicit and wanted & set(COUNT_METRICS):
                raise threshold_error(p, *outside, where)
            findings.append(Finding(
                "info", f"score column {p.score!r} is not a probability ({outside[0]} values outside [0, 1]) and "
                "predictions.threshold is not set: accuracy, precision, recall and f1 not reported (set "
                "predictions.threshold on the score's scale to get them)", column=p.score, count=outside[0],
                code="quality.no_threshold"))
            skip |= set(COUNT_METRICS)
        else:
            y_hat = score_classes(score, p, where)
    requested = set(cfg.main_metrics(has_score=score is not None, has_class=y_hat is not None)) - skip
    requested |= _future_names(cfg)
    need_score = sorted(requested & set(SCORE_METRICS), key=list(CLASSIFICATION_METRICS).index)
    if need_score and score is None:
        raise InputError(f"{', '.join(need_score)} need{'s' if len(need_score) == 1 else ''} a score column: "
                         "set predictions.score (or --score)", where=where)
    if requested & set(COUNT_METRICS) and y_hat is None:
        raise InputError("accuracy/precision/recall/f1 need predicted classes: set predictions.prediction, "
                         "or predictions.score with predictions.threshold", where=where)
    probability = requested & set(PROBABILITY_METRICS)
    if probability and score is not None and outside[0]:
        bad = outside[0]
        names = " and ".join(m for m in PROBABILITY_METRICS if m in probability)
        if not explicit:
            findings.append(Finding(
                "info", f"score column {p.score!r} is not a probability ({bad} values outside [0, 1]): "
                f"{names} not reported", column=p.score, count=bad, code="quality.not_probability"))
            return y, y_hat, score, skip | set(PROBABILITY_METRICS)
        raise InputError(
            f"score column {p.score!r} has {bad} values outside [0, 1] (min {score.min():.4g}, "
            f"max {score.max():.4g}): {names} need{'s' if ' and ' not in names else ''} probabilities; "
            "give a probability column or drop these metrics", where=where)
    return y, y_hat, score, skip


def _future_names(cfg: QualityConfig) -> set[str]:
    return set(cfg.future.metrics) | set(cfg.future.max_gap) if cfg.future else set()


def _multiclass_arrays(
    frame: pd.DataFrame, p: PredictionsConfig, where: str
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    if not p.prediction:
        raise InputError("the multiclass metrics need predicted classes: set predictions.prediction "
                         "(a score column holds one class's probability)", where=where)
    return encode_classes(frame[p.label], frame[p.prediction], where=where)


def _confusion(k: int, y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
    """k×k counts, rows true class, columns predicted class, in one bincount."""
    return np.bincount(y.astype(np.int64) * k + y_hat, minlength=k * k).reshape(k, k)


def _multiclass_scores(k: int, y: np.ndarray, y_hat: np.ndarray, _score: Any, names: list[str]) -> _Scores:
    """scikit-learn's definitions over the classes that occur in these rows (labels or predictions):
    precision tp/predicted, recall tp/support, f1 2tp/(support+predicted), 0.0 where undefined
    (zero_division=0); macro = plain mean over classes, weighted = mean weighted by support;
    balanced accuracy = mean recall over the classes that have labels."""
    cm = _confusion(k, y, y_hat)
    support, predicted, tp = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    present = (support + predicted) > 0
    support, predicted, tp = support[present], predicted[present], tp[present].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = {
            "precision": np.where(predicted > 0, tp / predicted, 0.0),
            "recall": np.where(support > 0, tp / support, 0.0),
            "f1": np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0),
        }
    values: dict[str, float | None] = {
        "accuracy": float(tp.sum() / support.sum()),
        "balanced_accuracy": float(np.mean(per["recall"][support > 0])),
    }
    for metric, arr in per.items():
        values[f"{metric}_macro"] = float(np.mean(arr))
        values[f"{metric}_weighted"] = float(np.average(arr, weights=support))
    return _Scores({n: values[n] for n in names if n in values})


def _per_class(y: np.ndarray, y_hat: np.ndarray, names_of: list[Any]) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Per-class support, precision, recall and f1 for the details, and the classes that make a
    ratio undefined (never predicted: precision; never labelled: recall) as findings."""
    k = len(names_of)
    cm = _confusion(k, y, y_hat)
    support, predicted, tp = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    rows = []
    for i, name in enumerate(names_of[:MAX_DETAIL_CLASSES]):
        s_, p_, t_ = int(support[i]), int(predicted[i]), int(tp[i])
        rows.append({"class": name, "support": s_, "predicted": p_,
                     "precision": t_ / p_ if p_ else None, "recall": t_ / s_ if s_ else None,
                     "f1": 2 * t_ / (s_ + p_) if s_ + p_ else None})
    findings = []
    for mask, what, metric in ((predicted == 0, "never predicted", "precision"),
                               (support == 0, "never in the labels", "recall")):
        if mask.any():
            shown = [names_of[i] for i in np.flatnonzero(mask)]
            findings.append(Finding(
                "info", f"classes {what}: {shown_values(shown)}; their {metric} is undefined and counts as 0.0 in "
                "the macro averages, as scikit-learn does (zero_division=0)", count=len(shown),
                examples=shown[:5], code=f"quality.class_{'unpredicted' if metric == 'precision' else 'unlabelled'}"))
    return rows, findings


def _regression_arrays(
    frame: pd.DataFrame, p: PredictionsConfig, where: str
) -> tuple[np.ndarray, np.ndarray, None]:
    column = p.prediction or p.score
    if not column:
        raise InputError("regression needs predicted values: set predictions.prediction", where=where)
    return _numeric(frame[p.label], "label", where), _numeric(frame[column], "prediction", where), None


def _numeric(values: pd.Series, what: str, where: str) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise InputError(f"{what} column {values.name!r} must be numeric, has dtype {values.dtype}", where=where)
    arr = values.to_numpy()
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    missing = np.isnan(arr)
    if missing.any():
        rows = list(values.index[missing][:5])
        raise InputError(f"{what} column {values.name!r} has {int(missing.sum())} missing values "
                         f"(e.g. rows {rows})", where=where)
    return arr


def _slices(
    frame: pd.DataFrame, p: PredictionsConfig, cfg: QualityConfig, main: list[str], where: str,
    findings: list[Finding],
) -> list[tuple[str, np.ndarray | None, list[str], dict[str, MetricLimits]]]:
    limits = dict(cfg.metrics or {})
    if cfg.future is None:
        return [("all", None, main, limits)]
    fut = cfg.future
    if not p.timestamp or p.timestamp not in frame.columns:
        raise InputError("quality.future needs predictions.timestamp (the column that dates each row)", where=where)
    after, missing = _after_cutoff(frame[p.timestamp], fut.cutoff, where)
    if missing.any():
        findings.append(Finding("warn", f"{int(missing.sum())} rows have no timestamp in {p.timestamp!r}: "
                                "they are in neither the holdout nor the future slice",
                                column=p.timestamp, count=int(missing.sum()), code="quality.no_timestamp"))
    holdout = ~after & ~missing
    gap_names = list(fut.max_gap)
    holdout_names = main + [m for m in gap_names if m not in main]
    future_names = list(fut.metrics) or list(main)
    future_names += [m for m in gap_names if m not in future_names]
    return [("holdout", holdout, holdout_names, limits), ("future", after, future_names, dict(fut.metrics))]


def _after_cutoff(ts: pd.Series, cutoff: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Which rows are after the cut-off, and which have no timestamp (numbers vs dates, as given)."""
    missing = ts.isna().to_numpy()
    numeric_cutoff = isinstance(cutoff, int | float)
    is_dates = pd.api.types.is_datetime64_any_dtype(ts)
    if numeric_cutoff:
        if not pd.api.types.is_numeric_dtype(ts) or pd.api.types.is_bool_dtype(ts):
            raise InputError(f"quality.future.cutoff is a number ({cutoff}) but timestamp column {ts.name!r} "
                             f"holds {ts.dtype}: give the cutoff as a date", where=where)
        return (ts > cutoff).to_numpy() & ~missing, missing
    if pd.api.types.is_numeric_dtype(ts) and not is_dates:
        raise InputError(f"timestamp column {ts.name!r} holds numbers but quality.future.cutoff is a date "
                         f"({cutoff}): give the cutoff as a number too", where=where)
    stamps = ts if is_dates else pd.to_datetime(ts, errors="coerce", utc=False, format="mixed")
    bad = stamps.isna().to_numpy() & ~missing
    if bad.any():
        examples = ts[bad].head(3).tolist()
        raise InputError(f"timestamp column {ts.name!r} has {int(bad.sum())} values that are not dates "
                         f"(e.g. {examples})", where=where)
    cut = pd.Timestamp(cutoff)
    tz = getattr(stamps.dt, "tz", None)
    if tz is not None and cut.tzinfo is None:
        cut = cut.tz_localize(tz)
    elif tz is None and cut.tzinfo is not None:
        cut = cut.tz_convert(None)
    return (stamps > cut).to_numpy() & ~missing, missing


# ---- metrics ------------------------------------------------------------------------------------


def _classification_scores(
    y: np.ndarray, y_hat: np.ndarray | None, score: np.ndarray | None, names: list[str]
) -> _Scores:
    out = _Scores({})
    wanted = set(names)
    if y_hat is not None and wanted & set(COUNT_METRICS):
        gc = confusion.count(y, y_hat)
        rates = {k: float(v[0]) for k, v in confusion.rates(gc).items()}
        tp, fp, fn = int(gc.tp[0]), int(gc.fp[0]), int(gc.fn[0])
        # scikit-learn's zero_division default: an undefined ratio is reported as 0.0
        undefined = {"precision": tp + fp == 0, "recall": tp + fn == 0, "f1": 2 * tp + fp + fn == 0}
        why = {"precision": "no row is predicted positive", "recall": "no row is labelled positive",
               "f1": "no positive labels or predictions"}
        for name, key in (("accuracy", "accuracy"), ("precision", "precision"), ("recall", "tpr"), ("f1", "f1")):
            if name in wanted:
                out.values[name] = 0.0 if undefined.get(name) else rates[key]
                if undefined.get(name):
                    out.reasons[name] = f"{why[name]}: reported as 0.0, as scikit-learn does (zero_division)"
    if score is not None:
        if wanted & {"roc_auc", "average_precision"}:
            auc, ap, reason = _auc_ap(y, score)
            for name, value in (("roc_auc", auc), ("average_precision", ap)):
                if name in wanted:
                    out.values[name] = value
                    if value is None:
                        out.reasons[name] = reason
        if "log_loss" in wanted:
            out.values["log_loss"] = _log_loss(y, score)
        if "brier" in wanted:
            out.values["brier"] = _brier(y, score)
    return out


def _auc_ap(y: np.ndarray, score: np.ndarray, chunk: int = 1 << 20) -> tuple[float | None, float | None, str]:
    """ROC AUC (Mann–Whitney, ties count half) and average precision (scikit-learn's step sum).

    Positives and negatives are sorted separately (no argsort of the whole table); then, a million
    positives at a time, searchsorted counts the negatives below/at each positive score and the
    positives at or above it. Equal to scikit-learn's curve-based values (tested to 1e-9), several
    times faster, with no temporaries beyond the two sorted copies and one chunk.
    """
    is_pos = y.astype(bool)
    pos, neg = score[is_pos], score[~is_pos]  # copies, sorted in place
    n_pos, n_neg = len(pos), len(neg)
    if n_pos == 0 or n_neg == 0:
        which = "positive" if n_pos == 0 else "negative"
        return None, None, (f"undefined: the labels have a single class (no {which} rows among "
                            f"{n_pos + n_neg})")
    pos.sort()
    neg.sort()
    twice_wins = 0  # exact integer: 2 × (negatives below) + (negatives tied), summed over positives
    precision_sum = 0.0
    for start in range(0, n_pos, chunk):
        v = pos[start:start + chunk]
        below = np.searchsorted(neg, v, "left")
        twice_wins += int(below.sum()) + int(np.searchsorted(neg, v, "right").sum())
        tps = n_pos - np.searchsorted(pos, v, "left")  # positives scored >= v
        precision_sum += float(np.sum(tps / (tps + (n_neg - below))))
    return twice_wins / (2.0 * n_pos * n_neg), precision_sum / n_pos, ""


def _log_loss(y: np.ndarray, score: np.ndarray, chunk: int = 1 << 20) -> float:
    """Mean negative log-likelihood with scikit-learn's clipping to [eps, 1 - eps] of the score
    dtype; a million rows at a time, so no full-length temporaries."""
    eps = np.finfo(score.dtype).eps
    total = 0.0
    for start in range(0, len(y), chunk):
        s, positive = score[start:start + chunk], y[start:start + chunk].astype(bool)
        p = np.subtract(1.0, s, dtype=np.float64)
        np.copyto(p, s, where=positive)
        np.clip(p, eps, 1 - eps, out=p)
        np.log(p, out=p)
        total -= float(p.sum())
    return total / len(y)


def _brier(y: np.ndarray, score: np.ndarray, chunk: int = 1 << 20) -> float:
    total = 0.0
    for start in range(0, len(y), chunk):
        diff = np.subtract(score[start:start + chunk], y[start:start + chunk], dtype=np.float64)
        total += float(np.dot(diff, diff))
    return total / len(y)


def _regression_scores(y: np.ndarray, y_hat: np.ndarray | None, _score: Any, names: list[str]) -> _Scores:
    assert y_hat is not None
    out = _Scores({})
    resid = y - y_hat
    if "mae" in names:
        out.values["mae"] = float(np.abs(resid).mean())
    sq = float(np.dot(resid, resid))
    if "rmse" in names:
        out.values["rmse"] = float(np.sqrt(sq / len(resid)))
    if "r2" in names:
        centred = y - y.mean()
        total = float(np.dot(centred, centred))
        if total == 0:
            out.values["r2"] = 1.0 if sq == 0 else 0.0
            out.reasons["r2"] = "labels are constant: r2 reported as scikit-learn does (1.0 if perfect, else 0.0)"
        else:
            out.values["r2"] = 1.0 - sq / total
    return out


def _gaps(
    holdout: dict[str, float | None], future: dict[str, float | None], fut: FutureConfig,
    baseline: GateResult | None,
) -> list[Metric]:
    out = []
    for name in [m for m in holdout if m in future]:
        h, f = holdout[name], future[name]
        gap = None if h is None or f is None else (h - f if HIGHER_IS_BETTER[name] else f - h)
        m = threshold_check(name, gap, "max_gap", fut.max_gap.get(name), slice="gap", higher_is_better=False)
        m.baseline = _base_value(baseline, name, "gap")
        m.delta = None if gap is None or m.baseline is None else gap - m.baseline
        m.note = "holdout minus future, positive = future is worse"
        out.append(m)
    return out


def _take(a: np.ndarray | None, mask: np.ndarray | None) -> Any:
    return a if a is None or mask is None else a[mask]


def _base_value(baseline: GateResult | None, name: str, slice_name: str) -> float | None:
    m = baseline.metric(name, slice_name) if baseline else None
    return None if m is None else m.value


# ---- words --------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _label(name: str, slice_name: str) -> str:
    return name if slice_name == "all" else f"{name} [{slice_name}]"


def breach_text(m: Metric) -> str:
    """One breached limit of a metric in words, e.g. 'recall 0.61 < 0.65'."""
    label = _label(m.name, m.slice)
    lim = next((c for c in m.limits if c.status != Status.PASS), None)
    if lim is None:
        return f"{label} {_fmt(m.value)}"
    obs, thr = lim.observed, _fmt(lim.threshold)
    if lim.kind == "min" or lim.kind == "min_ratio":
        return f"{label} {_fmt(obs)} < {thr}"
    if lim.kind in ("max_drop", "max_increase"):
        verb = "fell" if lim.kind == "max_drop" else "rose"
        return f"{label} {_fmt(m.value)} {verb} {_fmt(obs)} vs base (allowed {thr})"
    if lim.kind in ("max_relative_drop", "max_relative_increase"):
        verb = "fell" if lim.kind == "max_relative_drop" else "rose"
        pct = "n/a" if obs is None else f"{obs:.1%}"
        return f"{label} {_fmt(m.value)} {verb} {pct} vs base (allowed {lim.threshold:.1%})"
    return f"{label} {_fmt(obs)} > {thr}"


def breach_summary(metrics: list[Metric]) -> list[str]:
    """'2 failing: …', '1 warning: …' phrases for a summary line."""
    parts = []
    for status, word in ((Status.FAIL, "failing"), (Status.WARN, "warning")):
        hit = [m for m in metrics if m.status == status]
        if hit:
            shown = "; ".join(breach_text(m) for m in hit[:3]) + ("; …" if len(hit) > 3 else "")
            noun = "metric" if len(hit) == 1 else "metrics"
            parts.append(f"{len(hit)} {noun} {word}: {shown}")
    return parts


def _has_limits(cfg: QualityConfig) -> bool:
    """Whether any limit is configured at all (without one the gate cannot fail, and says so)."""
    groups = [*(cfg.metrics or {}).values(), *((cfg.future.metrics if cfg.future else {}).values())]
    limited = any(v is not None for lim in groups for v in (lim.min, lim.max, lim.max_drop, lim.max_relative_drop))
    return limited or bool(cfg.future and cfg.future.max_gap)


def _summary(metrics: list[Metric], cfg: QualityConfig, baseline: GateResult | None) -> str:
    primary = [m for m in metrics if m.slice in ("all", "holdout")]
    head = next((m for m in primary if m.name == "roc_auc" and m.value is not None), None) or next(
        (m for m in primary if m.value is not None), None)
    parts = []
    if head is not None:
        text = f"{_label(head.name, head.slice)} {_fmt(head.value)}"
        if head.delta is not None:
            text += f" ({head.delta:+.3g} vs base)".replace("-", "−")
        parts.append(text)
    breaches = breach_summary(metrics)
    parts += breaches
    judged = any(m.limits for m in metrics)
    if not breaches:
        parts.append("all limits met" if judged else "nothing judged" if _has_limits(cfg)
                     else "no limits configured (report only)")
    needs_base = any(lim.needs_baseline for lim in (cfg.metrics or {}).values()) or bool(
        cfg.future and any(lim.needs_baseline for lim in cfg.future.metrics.values()))
    if baseline is None and needs_base:
        parts.append("no baseline: drop limits not applied")
    return ", ".join(parts) or "no metrics computed"
