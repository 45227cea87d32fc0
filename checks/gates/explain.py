"""The explain gate: which features the model now relies on, and what changed against the base.

Permutation importance (scikit-learn's `permutation_importance`: how much the score drops when one
feature's column is shuffled, `n_repeats` times with a fixed `random_state`) on the holdout, for
the candidate and for the base commit's model. The numbers are scikit-learn's own: the gate calls
it, on one seeded sample of at most `max_rows` rows shared by both models (tests compare them with a
direct call). The base comes from `baseline_model` (the base commit's model file, read from
`--config-ref` like a limit file, scored on the same rows) or, without it, from the base commit's
results (`--baseline`), if they used the same scoring.

Limits (report-only by default: `severity: warn`; `severity: fail` makes them block):
- a forbidden feature — a sensitive attribute from `bias.sensitive` (unless `forbid_sensitive:
  false`) or a proxy listed in `forbidden` — must not *enter* the top-k: it may stay where the
  base already had it, but a forbidden feature that was outside the base's top-k (or any, when
  there is no base) and is inside the candidate's breaches; with `max_forbidden_importance` it
  must also not exceed that importance anywhere;
- `max_rank_shift: {feature: n, "*": n}`: a listed feature (or every feature, "*") may not move
  more than n ranks against the base.
Features entering or leaving the top-k are reported. A forbidden feature the model does not use
has no importance (shuffling an unused column changes nothing) and is said to be unused.

`evaluate` is pure; `run` loads the models (skops, trusted types only) and the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlgate.checks.config.explain import ExplainConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.model_files import default_model_path, inspect_model, model_features, model_input
from mlgate.checks.inputs.tables import read_table
from mlgate.checks.results import Finding, GateResult, LimitCheck, Metric, Status

GATE = "explain"
# scorers whose metric needs to know the positive class (scikit-learn assumes 1)
POS_LABEL_SCORERS = ("f1", "precision", "recall", "jaccard", "average_precision")


@dataclass
class Importances:
    """Permutation importances of one model on one sample."""

    features: list[str]
    mean: list[float]
    std: list[float]
    score: float | None = None  # the model's score on the unshuffled rows
    scoring: str = ""

    def ranks(self) -> dict[str, int]:
        """1 = most important; ties in the order the features were given (stable)."""
        order = sorted(range(len(self.features)), key=lambda i: -self.mean[i])
        return {self.features[i]: r + 1 for r, i in enumerate(order)}

    def top(self, k: int) -> list[str]:
        ranks = self.ranks()
        return sorted([f for f, r in ranks.items() if r <= k], key=ranks.__getitem__)

    def of(self, feature: str) -> tuple[float, float] | None:
        if feature not in self.features:
            return None
        i = self.features.index(feature)
        return self.mean[i], self.std[i]

    def to_details(self) -> dict[str, Any]:
        ranks = self.ranks()
        rows = zip(self.features, self.mean, self.std, strict=True)
        return {f: {"mean": m, "std": s, "rank": ranks[f]} for f, m, s in rows}

    @classmethod
    def from_details(cls, data: Any, scoring: str) -> Importances | None:
        """The base commit's importances as its results recorded them; None if unreadable."""
        if not isinstance(data, dict):
            return None
        feats, means, stds = [], [], []
        for f, v in data.items():
            if not isinstance(v, dict) or not isinstance(v.get("mean"), int | float):
                return None
            feats.append(str(f))
            means.append(float(v["mean"]))
            stds.append(float(v.get("std") or 0.0))
        return cls(feats, means, stds, scoring=scoring)


def scoring_label(scoring: str | None) -> str:
    return scoring or "the model's own score method"


def forbidden_features(cfg: ExplainConfig, sensitive: list[str]) -> dict[str, str]:
    """Forbidden feature -> why (for messages)."""
    out: dict[str, str] = {}
    if cfg.forbid_sensitive:
        for s in sensitive:
            out[s] = "a sensitive attribute (bias.sensitive)"
    for p in cfg.forbidden:
        out.setdefault(p, "a listed proxy (explain.forbidden)")
    return out


def evaluate(cand: Importances, base: Importances | None, base_source: str | None, cfg: ExplainConfig,
             forbidden: dict[str, str], rows: int) -> GateResult:
    """Top-k, changes against the base, and the forbidden-feature and rank-shift limits (pure)."""
    breach = Status.WARN if cfg.severity == "warn" else Status.FAIL
    k = cfg.top_k
    ranks, base_ranks = cand.ranks(), (base.ranks() if base else {})
    top, base_top = cand.top(k), (base.top(k) if base else [])
    findings: list[Finding] = []
    metrics: list[Metric] = []
    entered = [f for f in top if base is not None and f not in base_top]
    left = [f for f in base_top if f not in top]

    shown = list(dict.fromkeys([*top, *base_top, *(f for f in forbidden if f in ranks)]))
    for f in shown:
        value = cand.of(f)
        old = base.of(f) if base else None
        checks: list[LimitCheck] = []
        note = []
        if f in forbidden and value is not None and cfg.max_forbidden_importance is not None:
            ok = value[0] <= cfg.max_forbidden_importance + 1e-12
            checks.append(LimitCheck("max", cfg.max_forbidden_importance, Status.PASS if ok else breach, value[0],
                                     breach))
            note.append(f"forbidden: {forbidden[f]}")
        metrics.append(Metric(
            "importance", None if value is None else value[0], status=Status.worst(c.status for c in checks),
            slice=f, baseline=None if old is None else old[0],
            delta=None if value is None or old is None else value[0] - old[0], limits=checks,
            note="; ".join([*note, *([] if value is None else [f"± {value[1]:.3g} (std over repeats)"])])))

    for f, why in forbidden.items():
        if f not in ranks:
            findings.append(Finding("info", f"{f} ({why}) is not a feature of the model: it has no importance",
                                    column=f, code="explain.forbidden_unused"))
            continue
        rank = ranks[f]
        inside = rank <= k
        grandfathered = inside and base is not None and f in base_top
        status = Status.PASS if not inside or grandfathered else breach
        rank_note = f"forbidden: {why}"
        if grandfathered:
            rank_note += f"; already in the base's top {k} (rank {base_ranks[f]}), so it did not enter"
        elif inside and base is None:
            rank_note += "; no base to compare with: being in the top-k counts as entering"
        metrics.append(Metric("rank", rank, status=status, slice=f, baseline=base_ranks.get(f),
                              delta=None if f not in base_ranks else rank - base_ranks[f], higher_is_better=None,
                              limits=[LimitCheck("outside_top_k", k, status, rank, breach)], note=rank_note))

    shift_limits = _rank_shift_limits(cfg, ranks)
    for f, allowed in shift_limits.items():
        if base is None or f not in base_ranks:
            if f in cfg.max_rank_shift:
                why = "no base to compare with" if base is None else "the base model does not use it"
                findings.append(Finding("info", f"rank shift of {f} not judged: {why}", column=f,
                                        code="explain.rank_shift_unjudged"))
            continue
        shift = abs(ranks[f] - base_ranks[f])
        ok = shift <= allowed
        metrics.append(Metric("rank_shift", shift, status=Status.PASS if ok else breach, slice=f,
                              higher_is_better=False, limits=[LimitCheck("max", allowed, Status.PASS if ok else breach,
                                                                         shift, breach)],
                              note=f"rank {base_ranks[f]} → {ranks[f]}"))

    if base is None:
        findings.append(Finding("info", "no base to compare with (set explain.baseline_model, or give --baseline "
                                "results with explain importances): only this model's importances are shown",
                                code="explain.no_base"))
    else:
        if entered:
            findings.append(Finding("info", f"entered the top {k}: " + ", ".join(
                f"{f} (rank {ranks[f]}, was {base_ranks.get(f, 'unused')})" for f in entered),
                count=len(entered), code="explain.entered"))
        if left:
            findings.append(Finding("info", f"left the top {k}: " + ", ".join(
                f"{f} (rank {ranks.get(f, 'unused')}, was {base_ranks[f]})" for f in left),
                count=len(left), code="explain.left"))
    judged = any(m.limits for m in metrics)
    if not judged:
        findings.append(Finding("info", "nothing to judge: no forbidden feature is used by the model and no "
                                "max_rank_shift applies; the gate reports the importances only",
                                code="explain.unjudged"))
    status = Status.worst(m.status for m in metrics)
    details = {
        "scoring": scoring_label(cand.scoring or None), "n_repeats": cfg.n_repeats,
        "random_state": cfg.random_state, "rows": rows, "top_k": k, "score": cand.score,
        "base_score": base.score if base else None, "base_source": base_source,
        "importances": cand.to_details(), "base_importances": base.to_details() if base else None,
        "top": _top_rows(cand, base, shown),
        "entered": entered, "left": left, "forbidden": forbidden,
    }
    return GateResult(GATE, status, _summary(cand, base, top, entered, left, metrics, k), metrics=metrics,
                      findings=findings, baseline_used=base is not None, details=details)


def _rank_shift_limits(cfg: ExplainConfig, ranks: dict[str, int]) -> dict[str, int]:
    default = cfg.max_rank_shift.get("*")
    out = {f: default for f in ranks} if default is not None else {}
    out.update({f: n for f, n in cfg.max_rank_shift.items() if f != "*"})
    return out


def _top_rows(cand: Importances, base: Importances | None, shown: list[str]) -> list[dict[str, Any]]:
    ranks, base_ranks = cand.ranks(), (base.ranks() if base else {})
    rows = []
    for f in sorted(shown, key=lambda f: (ranks.get(f, 10**9), base_ranks.get(f, 10**9))):
        value, old = cand.of(f), (base.of(f) if base else None)
        rows.append({
            "feature": f, "rank": ranks.get(f), "importance": None if value is None else value[0],
            "std": None if value is None else value[1], "base_rank": base_ranks.get(f),
            "base_importance": None if old is None else old[0],
            "rank_change": None if f not in ranks or f not in base_ranks else base_ranks[f] - ranks[f],
        })
    return rows


def _summary(cand: Importances, base: Importances | None, top: list[str], entered: list[str], left: list[str],
             metrics: list[Metric], k: int) -> str:
    parts = [f"top {min(k, len(top))}: " + ", ".join(top[:5]) + (" …" if len(top) > 5 else "")]
    if base is not None:
        parts.append("top-k unchanged" if not entered and not left else
                     "; ".join(x for x in (f"entered: {', '.join(entered)}" if entered else "",
                                           f"left: {', '.join(left)}" if left else "") if x))
    bad = [m for m in metrics if m.status != Status.PASS]
    for m in bad[:3]:
        if m.name == "rank":
            parts.append(f"forbidden {m.slice} entered the top {k} (rank {m.value})")
        elif m.name == "importance":
            parts.append(f"forbidden {m.slice} importance {m.value:.3g} > {m.limits[0].threshold:g}")
        else:
            parts.append(f"{m.slice} moved {m.value} ranks (allowed {m.limits[0].threshold:g})")
    if not bad and any(m.limits for m in metrics):
        parts.append("all limits met")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------- run


def scorer_for(scoring: str | None, positive: Any) -> Any:
    """The `scoring` argument for permutation_importance: the name, or (for metrics that need the
    positive class) a scorer that knows it. Unknown names are config errors listing some valid ones."""
    if scoring is None:
        return None
    from sklearn.metrics import get_scorer_names

    names = get_scorer_names()
    if scoring not in names:
        raise ConfigError(f"explain.scoring {scoring!r} is not a scikit-learn scorer; e.g. roc_auc, accuracy, "
                          "balanced_accuracy, f1, average_precision, neg_log_loss, r2, neg_mean_absolute_error")
    if scoring in POS_LABEL_SCORERS and positive is not None and positive != 1:
        from sklearn import metrics as skm

        if scoring == "average_precision":
            return skm.make_scorer(skm.average_precision_score, response_method=("decision_function", "predict_proba"),
                                   pos_label=positive)
        func = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score,
                "jaccard": skm.jaccard_score}[scoring]
        return skm.make_scorer(func, pos_label=positive)
    return scoring


def importances(estimator: Any, X: Any, y: Any, cfg: ExplainConfig, scoring: Any, scoring_name: str,
                where: str) -> Importances:
    """scikit-learn's permutation importance, and the unshuffled score, for one model."""
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import check_scoring

    try:
        result = permutation_importance(estimator, X, y, scoring=scoring, n_repeats=cfg.n_repeats,
                                        random_state=cfg.random_state)
        score = float(check_scoring(estimator, scoring=scoring)(estimator, X, y))
    except Exception as exc:
        raise InputError(f"permutation importance failed: {type(exc).__name__}: {exc}", where=where) from exc
    names = [str(c) for c in getattr(X, "columns", range(np.shape(X)[1]))]
    return Importances(names, [float(v) for v in result.importances_mean],
                       [float(v) for v in result.importances_std], score, scoring_name)


def run(config: Any, ctx: RunContext, baseline: GateResult | None) -> GateResult:
    cfg: ExplainConfig = config.explain
    preds = getattr(config, "predictions", None)
    source = getattr(preds, "model", None)
    data = cfg.data or (source.data if source is not None else None)
    if not data:
        raise ConfigError("explain needs holdout rows with the features and the label: set explain.data")
    label = cfg.label or getattr(preds, "label", None)
    if not label:
        raise ConfigError("explain needs the label column: set explain.label (or predictions.label)")
    positive = cfg.positive_label if cfg.positive_label is not None else getattr(preds, "positive_label", None)
    model_path = default_model_path(config, cfg.model, "explain.model")
    cand_file = inspect_model(ctx.record(model_path), allow_pickle=cfg.allow_pickle, trusted=cfg.trusted_types)
    if cand_file.estimator is None:
        raise InputError(f"permutation importance needs a scikit-learn model mlgate can load safely (.skops); "
                         f"this is a {cand_file.format} file", where=model_path)
    features = model_features(cand_file.estimator, cfg.features, model_path, "explain.features")
    frame = read_table(ctx.record(data), None)
    missing = [c for c in [*features, label] if c not in frame.columns]
    if missing:
        raise InputError(f"columns missing: {', '.join(missing)} (explain needs the model's features and the "
                         "label)", where=data)
    frame = frame[frame[label].notna()]
    if len(frame) < 2:
        raise InputError(f"fewer than 2 rows with a label in {label!r}: nothing to permute", where=data)
    if cfg.max_rows is not None and len(frame) > cfg.max_rows:
        frame = frame.sample(n=cfg.max_rows, random_state=cfg.random_state)
    scoring = scorer_for(cfg.scoring, positive)
    y = frame[label].to_numpy()
    cand = importances(cand_file.estimator, model_input(cand_file.estimator, frame[features]), y, cfg, scoring,
                       cfg.scoring or "", model_path)
    findings = [Finding("info", n, code="explain.model") for n in cand_file.notes if n]
    base, source_name = _base(cfg, ctx, frame, y, scoring, baseline, findings)
    sensitive = list(getattr(getattr(config, "bias", None), "sensitive", None) or [])
    result = evaluate(cand, base, source_name, cfg, forbidden_features(cfg, sensitive), len(frame))
    result.findings = findings + result.findings
    result.details["data"] = data
    return result


def _base(cfg: ExplainConfig, ctx: RunContext, frame: Any, y: Any, scoring: Any, baseline: GateResult | None,
          findings: list[Finding]) -> tuple[Importances | None, str | None]:
    """The base model's importances on the same rows, else the base results' importances."""
    if cfg.baseline_model:
        base_file = inspect_model(ctx.record(cfg.baseline_model), allow_pickle=cfg.allow_pickle,
                                  trusted=cfg.trusted_types)
        if base_file.estimator is None:
            raise InputError(f"the base model is a {base_file.format} file: permutation importance needs a "
                             "scikit-learn model (.skops)", where=cfg.baseline_model)
        feats = model_features(base_file.estimator, cfg.features, cfg.baseline_model, "explain.features")
        missing = [c for c in feats if c not in frame.columns]
        if not missing:
            return importances(base_file.estimator, model_input(base_file.estimator, frame[feats]), y, cfg, scoring,
                               cfg.scoring or "", cfg.baseline_model), "baseline_model"
        findings.append(Finding("info", f"the base model's features {', '.join(missing)} are not in the data: its "
                                "importances come from the base results, if any", code="explain.base_features"))
    if baseline is not None:
        recorded = (baseline.details or {}).get("importances")
        same = (baseline.details or {}).get("scoring") == scoring_label(cfg.scoring)
        base = Importances.from_details(recorded, cfg.scoring or "") if same else None
        if base is not None:
            base.score = (baseline.details or {}).get("score")
            return base, "baseline results"
        if recorded is not None and not same:
            findings.append(Finding("info", f"the base results used scoring {baseline.details.get('scoring')!r}, "
                                    f"this run {scoring_label(cfg.scoring)!r}: not compared",
                                    code="explain.base_scoring"))
    return None, None
