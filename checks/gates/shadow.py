"""The shadow gate: promote only a model that behaved in shadow.

Input: one table exported from the serving logs, one row per request both models saw — the request
id, the shadow (candidate) model's score and/or class, the production model's, optionally the label
that arrived later (empty where it has not) and sensitive attributes. Judged:

- `requests` ≥ `min_requests`: too little traffic is not evidence (a failure, never a silent pass);
- `shadow_missing_share`: requests the shadow model did not answer (empty score and class);
- `agreement`: share of requests where both predicted the same class (a class column, else
  score ≥ `threshold`); per group of each sensitive attribute too (`min_group_agreement`);
- score differences shadow − production: mean (signed, reported), mean absolute and p99 absolute;
- selection rates (share predicted positive) of both and their shift, overall and per group
  (`max_selection_rate_shift`, absolute): a model that agrees 97 % overall but selects 10 points
  more of one group is caught here;
- quality of both on the labelled requests (`quality: {roc_auc: {max_drop: 0.01}}`): the metric is
  the shadow model's, its `baseline` the production model's on the same rows, so the quality
  gate's limit words mean "shadow against production".
`shadow_version` names the export's column with the shadow model's version (its content hash): every
row must be of this commit's model (`artifacts.model`), or the gate fails — a shadow run of another
version says nothing about this one. Groups smaller than `min_group_size` are shown, not judged.

The baseline of this gate is the production model on the same requests (a metric's `baseline` is
production's figure), not the base commit's results: those are about another model's shadow run.

`evaluate` is pure; `run` reads the export.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlgate.checks.config.shadow import ShadowConfig, ShadowSide
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.classes import binarize, binary_classes
from mlgate.checks.gates.limits import judge
from mlgate.checks.gates.quality import CLASSIFICATION_METRICS, SCORE_METRICS, _classification_scores
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.predictions import DEFAULT_THRESHOLD
from mlgate.checks.inputs.tables import read_table
from mlgate.checks.results import Finding, GateResult, GroupRow, LimitCheck, Metric, Status, finding_status

GATE = "shadow"
MISSING = "<missing>"
MAX_EXAMPLES = 5
MIN_VERSION_PREFIX = 12


def _version_key(value: Any) -> str:
    return str(value).strip().lower().removeprefix("sha256:")


def version_matches(recorded: str, model_sha256: str) -> bool:
    """A version in the export names the model when it is its hash, or a prefix of at least 12 hex digits."""
    have, want = _version_key(recorded), _version_key(model_sha256)
    return have == want or (len(have) >= MIN_VERSION_PREFIX and want.startswith(have))


class _Side:
    """One model's answers on the answered requests: classes (0/1) and scores."""

    def __init__(self, classes: np.ndarray, score: np.ndarray | None) -> None:
        self.classes = classes
        self.score = score


def _classes(frame: pd.DataFrame, side: ShadowSide, positive: Any, threshold: float | None, what: str,
             where: str) -> _Side:
    score = None
    if side.score:
        score = pd.to_numeric(frame[side.score], errors="coerce").to_numpy(dtype=float)
        if np.isnan(score).any():
            raise InputError(f"{what} score column {side.score!r} has values that are not numbers", where=where)
    if side.prediction:
        classes = binarize(frame[side.prediction], positive, what=f"{what} prediction", where=where)
    else:
        assert score is not None
        if threshold is None and ((score < 0) | (score > 1)).any():
            raise InputError(f"{what} score column {side.score!r} has values outside [0, 1] and shadow.threshold "
                             "is not set: set it on the score's own scale, or give the prediction column", where=where)
        classes = (score >= (DEFAULT_THRESHOLD if threshold is None else threshold)).astype(np.int8)
    return _Side(np.asarray(classes, dtype=np.int8), score)


def _limit(kind: str, threshold: float | None, observed: float | None, breach: Status) -> list[LimitCheck]:
    if threshold is None:
        return []
    if observed is None:
        ok = False
    elif kind.startswith("min"):
        ok = observed >= threshold - 1e-12
    else:
        ok = observed <= threshold + 1e-12
    return [LimitCheck(kind, threshold, Status.PASS if ok else breach, observed, breach)]


def _metric(name: str, value: float | None, checks: list[LimitCheck], slice_name: str = "all", note: str = "",
            higher: bool | None = None, production: float | None = None) -> Metric:
    """A metric of the shadow model; `baseline` is the production model's figure where there is one."""
    return Metric(name, value, status=Status.worst(c.status for c in checks), slice=slice_name, baseline=production,
                  delta=None if value is None or production is None else value - production, higher_is_better=higher,
                  limits=checks, note=note)


def evaluate(frame: pd.DataFrame, cfg: ShadowConfig, *, id_column: str, positive: Any, sensitive: list[str],
             model_sha256: str | None, where: str) -> GateResult:
    """Judge the shadow export (pure: the frame is already read)."""
    breach = Status.WARN if cfg.severity == "warn" else Status.FAIL
    findings: list[Finding] = []
    metrics: list[Metric] = []
    ids = frame[id_column]
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        raise InputError(f"request id column {id_column!r} has {dup.nunique()} ids more than once (e.g. "
                         f"{', '.join(map(str, dup.unique()[:MAX_EXAMPLES]))}): one row per request", where=where)
    if ids.isna().any():
        raise InputError(f"request id column {id_column!r} has {int(ids.isna().sum())} empty values", where=where)
    details: dict[str, Any] = {"export": where, "requests": len(frame), "model_sha256": model_sha256}

    # versions: the export must be of this commit's model
    if cfg.shadow_version:
        seen = frame[cfg.shadow_version].dropna().astype(str).value_counts()
        details["shadow_model"] = seen.index[0] if len(seen) == 1 else {str(k): int(v) for k, v in seen.items()}
        if len(seen) == 0:
            findings.append(Finding("fail", f"shadow version column {cfg.shadow_version!r} is empty: the export does "
                                    "not say which model ran in shadow", code="shadow.version_missing"))
        elif model_sha256 is not None:
            wrong = {v: n for v, n in seen.items() if not version_matches(v, model_sha256)}
            details["version_matches"] = not wrong
            if wrong:
                findings.append(Finding(
                    "fail", f"{sum(wrong.values())} of {len(frame)} requests were answered by another shadow model "
                    f"({', '.join(list(wrong)[:3])}) than this commit's {model_sha256}: only a shadow run of this "
                    "version is evidence for it", column=cfg.shadow_version, count=int(sum(wrong.values())),
                    examples=list(wrong)[:MAX_EXAMPLES], code="shadow.version_mismatch"))
    if cfg.production_version:
        seen = frame[cfg.production_version].dropna().astype(str).unique()
        details["production_model"] = seen[0] if len(seen) == 1 else sorted(map(str, seen))

    # answered requests
    shadow_cols = [c for c in (cfg.shadow.score, cfg.shadow.prediction) if c]
    prod_cols = [c for c in (cfg.production.score, cfg.production.prediction) if c]
    shadow_missing = frame[shadow_cols].isna().all(axis=1).to_numpy()
    prod_missing = frame[prod_cols].isna().any(axis=1).to_numpy()
    partly = frame[shadow_cols].isna().any(axis=1).to_numpy() & ~shadow_missing
    if partly.any():
        raise InputError(f"{int(partly.sum())} requests have a shadow score without a class or the other way round "
                         f"(columns {', '.join(shadow_cols)})", where=where)
    n = len(frame)
    metrics.append(_metric("requests", n, _limit("min", cfg.min_requests, n, breach), note="requests in the export"))
    missing_share = float(shadow_missing.mean()) if n else None
    metrics.append(_metric("shadow_missing_share", missing_share,
                           _limit("max", cfg.max_missing_share, missing_share, breach),
                           note="requests the shadow model did not answer", higher=False))
    if prod_missing.any():
        findings.append(Finding("info", f"{int(prod_missing.sum())} requests have no production answer: left out of "
                                "the comparison", count=int(prod_missing.sum()), code="shadow.production_missing"))
    both = frame[~shadow_missing & ~prod_missing]
    details["compared"] = len(both)
    if len(both) == 0:
        findings.append(Finding("fail", "no request has both a shadow and a production answer: nothing to compare",
                                code="shadow.nothing_compared"))
        return _result(metrics, findings, details, [], cfg)
    s = _classes(both, cfg.shadow, positive, cfg.threshold, "shadow", where)
    p = _classes(both, cfg.production, positive, cfg.threshold, "production", where)
    agree = s.classes == p.classes
    agreement = float(agree.mean())
    metrics.append(_metric("agreement", agreement, _limit("min", cfg.min_agreement, agreement, breach),
                           note="share of requests where both predicted the same class",
                           higher=True))
    if s.score is not None and p.score is not None:
        diff = s.score - p.score
        absdiff = np.abs(diff)
        metrics.append(_metric("score_difference_mean", float(diff.mean()), [],
                               note="mean of shadow − production (signed: a systematic shift)"))
        mean_abs = float(absdiff.mean())
        metrics.append(_metric("score_difference_abs_mean", mean_abs,
                               _limit("max", cfg.max_mean_score_difference, mean_abs, breach),
                               higher=False))
        p99 = float(np.percentile(absdiff, 99))
        metrics.append(_metric("score_difference_p99", p99, _limit("max", cfg.max_p99_score_difference, p99, breach),
                               note="99th percentile of |shadow − production|", higher=False))
    sel_s, sel_p = float(s.classes.mean()), float(p.classes.mean())
    shift = sel_s - sel_p
    metrics.append(_metric("selection_rate", sel_s,
                           _limit("max_shift", cfg.max_selection_rate_shift, abs(shift), breach), production=sel_p,
                           note="share predicted positive; baseline = production's; the limit is on the shift's size"))

    groups = _groups(both, s, p, agree, sensitive, cfg, breach, metrics, findings)
    _quality(both, s, p, cfg, positive, where, breach, metrics, findings, details)
    return _result(metrics, findings, details, groups, cfg)


def _groups(both: pd.DataFrame, s: _Side, p: _Side, agree: np.ndarray, sensitive: list[str], cfg: ShadowConfig,
            breach: Status, metrics: list[Metric], findings: list[Finding]) -> list[GroupRow]:
    rows: list[GroupRow] = []
    for attr in sensitive:
        keys = both[attr].astype(object).where(both[attr].notna(), MISSING).astype(str).to_numpy()
        judged_agreement: list[float] = []
        judged_shift: list[float] = []
        for group in sorted(set(keys)):
            mask = keys == group
            count = int(mask.sum())
            g_agree = float(agree[mask].mean())
            g_s, g_p = float(s.classes[mask].mean()), float(p.classes[mask].mean())
            judged = count >= cfg.min_group_size
            status = Status.PASS
            if judged:
                judged_agreement.append(g_agree)
                judged_shift.append(g_s - g_p)
                low = cfg.min_group_agreement is not None and g_agree < cfg.min_group_agreement - 1e-12
                limit = cfg.max_selection_rate_shift
                moved = limit is not None and abs(g_s - g_p) > limit + 1e-12
                status = breach if low or moved else Status.PASS
            rows.append(GroupRow(attr, group, count, judged,
                                 {"agreement": g_agree, "selection_rate_shadow": g_s,
                                  "selection_rate_production": g_p, "selection_rate_shift": g_s - g_p}, status=status))
        if judged_agreement:
            worst = min(judged_agreement)
            metrics.append(_metric("group_agreement_min", worst, _limit("min", cfg.min_group_agreement, worst, breach),
                                   slice_name=attr, higher=True,
                                   note=f"lowest agreement of the groups of {attr} with ≥ {cfg.min_group_size} "
                                        "requests"))
            biggest = max(judged_shift, key=abs)
            metrics.append(_metric("group_selection_rate_shift_max", abs(biggest),
                                   _limit("max", cfg.max_selection_rate_shift, abs(biggest), breach), slice_name=attr,
                                   higher=False,
                                   note=f"largest |shadow − production| selection rate of a group of {attr} "
                                        f"(signed {biggest:+.3g})"))
        else:
            findings.append(Finding("warn", f"no group of {attr} has {cfg.min_group_size} requests: per-group "
                                    "agreement and selection rates are shown, not judged", column=attr,
                                    code="shadow.groups_small"))
    return rows


def _quality(both: pd.DataFrame, s: _Side, p: _Side, cfg: ShadowConfig, positive: Any, where: str, breach: Status,
             metrics: list[Metric], findings: list[Finding], details: dict[str, Any]) -> None:
    if not cfg.label:
        if cfg.quality:
            raise ConfigError("shadow.quality needs shadow.label: the column with the labels that arrived later")
        return
    labelled = both[cfg.label].notna().to_numpy()
    count = int(labelled.sum())
    details["labelled"] = count
    metrics.append(Metric("labelled", count, slice="all", note="requests whose label has arrived"))
    names = list(cfg.quality) or ["accuracy", *(["roc_auc"] if s.score is not None and p.score is not None else [])]
    if count < cfg.min_labelled:
        severity = "warn" if cfg.quality else "info"
        findings.append(Finding(severity, f"only {count} requests have a label (fewer than min_labelled "
                                f"{cfg.min_labelled}): quality of the two models not compared",
                                count=count, code="shadow.few_labels"))
        return
    y, _ = binary_classes(both.loc[labelled, cfg.label], None, positive, where=where)
    for name in names:
        if name in SCORE_METRICS and (s.score is None or p.score is None):
            raise ConfigError(f"shadow.quality.{name} needs a score column for both models (shadow.score and "
                              "production.score)")
    shadow_scores = _classification_scores(y, s.classes[labelled], None if s.score is None else s.score[labelled],
                                           names).values
    prod_scores = _classification_scores(y, p.classes[labelled], None if p.score is None else p.score[labelled],
                                         names).values
    for name in names:
        limits = cfg.quality.get(name)
        if limits is not None and breach == Status.WARN:
            limits = limits.model_copy(update={"severity": "warn"})
        m = judge(name, shadow_scores.get(name), limits, higher_is_better=CLASSIFICATION_METRICS[name],
                  baseline=prod_scores.get(name), slice="labelled")
        m.note = "; ".join(x for x in ("shadow model's value; baseline = the production model's on the same "
                                       f"{count} labelled requests", m.note) if x)
        metrics.append(m)


def _result(metrics: list[Metric], findings: list[Finding], details: dict[str, Any], groups: list[GroupRow],
            cfg: ShadowConfig) -> GateResult:
    status = Status.worst([*(m.status for m in metrics), *(g.status for g in groups),
                           *(finding_status(f.severity) for f in findings)])
    return GateResult(GATE, status, _summary(metrics, findings, details), metrics=metrics, findings=findings,
                      groups=groups, baseline_used=True, details=details)


def _summary(metrics: list[Metric], findings: list[Finding], details: dict[str, Any]) -> str:
    from mlgate.checks.gates.quality import breach_text

    parts = [f"{details.get('requests', 0):,} requests"]
    agreement = next((m for m in metrics if m.name == "agreement"), None)
    if agreement is not None and agreement.value is not None:
        parts.append(f"agreement {agreement.value:.1%}")
    sel = next((m for m in metrics if m.name == "selection_rate"), None)
    if sel is not None and sel.delta is not None:
        parts.append(f"selection rate shift {sel.delta:+.3f}")
    bad = [m for m in metrics if m.status != Status.PASS]
    blocking = [f for f in findings if f.severity in ("fail", "warn")]
    for m in bad[:3]:
        lim = next((c for c in m.limits if c.status != Status.PASS), None)
        if m.name == "requests" and lim is not None:
            parts.append(f"requests {m.value:,} < {lim.threshold:,.0f} (too little traffic to judge)")
        elif lim is not None and lim.kind == "max_shift":
            label = m.name if m.slice == "all" else f"{m.name} [{m.slice}]"
            parts.append(f"{label} shifted {lim.observed:.3g} (allowed {lim.threshold:g})")
        else:
            parts.append(breach_text(m))
    for f in blocking[:2]:
        if f.code in ("shadow.version_mismatch", "shadow.version_missing", "shadow.nothing_compared"):
            parts.append(f.message.split(":")[0])
    if not bad and not any(f.severity == "fail" for f in findings):
        parts.append("all limits met")
    return ", ".join(parts)


def run(config: Any, ctx: RunContext, baseline: GateResult | None) -> GateResult:
    """Read the export and evaluate; the base commit's results (`baseline`) are not compared (see above)."""
    cfg: ShadowConfig = config.shadow
    preds = getattr(config, "predictions", None)
    id_column = cfg.id or getattr(preds, "id", None)
    if not id_column:
        raise ConfigError("shadow needs the request id column: set shadow.id (or predictions.id)")
    positive = cfg.positive_label if cfg.positive_label is not None else getattr(preds, "positive_label", 1)
    bias = getattr(config, "bias", None)
    explicit = cfg.sensitive is not None
    sensitive: list[str] = list(cfg.sensitive) if cfg.sensitive is not None else list(
        getattr(bias, "sensitive", None) or [])
    model_sha256 = None  # the config is checked before any file is read
    if cfg.shadow_version:
        model = getattr(getattr(config, "artifacts", None), "model", None)
        if not model:
            raise ConfigError("shadow.shadow_version needs artifacts.model: the model whose version the export must "
                              "show")
        if not ctx.path(model).is_file():
            raise InputError("model artifact not found", where=model)
        ctx.record(model)
        model_sha256 = ctx.files[model]
    path = ctx.record(cfg.export)
    frame = read_table(path, None)
    wanted = [id_column, *(c for side in (cfg.shadow, cfg.production) for c in (side.score, side.prediction) if c),
              *(c for c in (cfg.label, cfg.shadow_version, cfg.production_version) if c)]
    absent = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if absent:
        raise InputError(f"columns missing: {', '.join(absent)}", where=cfg.export)
    findings: list[Finding] = []
    lacking = [c for c in sensitive if c not in frame.columns]
    if lacking and explicit:
        raise InputError(f"sensitive columns missing: {', '.join(lacking)} (shadow.sensitive)", where=cfg.export)
    if lacking:
        findings.append(Finding("info", f"the export has no {', '.join(lacking)} column (bias.sensitive): no "
                                "per-group comparison for it", code="shadow.no_sensitive"))
        sensitive = [c for c in sensitive if c not in lacking]
    result = evaluate(frame, cfg, id_column=id_column, positive=positive, sensitive=sensitive,
                      model_sha256=model_sha256, where=cfg.export)
    result.findings = findings + result.findings
    return result
