"""The skew gate: serving data looks like training data, and the packaged model predicts as trained.

Distribution drift, per feature (slice = feature name):
- numeric features: PSI over `bins` quantile bins of the training sample, and the two-sample
  Kolmogorov–Smirnov statistic (scipy.stats.ks_2samp, on the non-missing values); both judged;
- categorical features (non-numeric or boolean columns, or `kind: categorical`): PSI over the
  categories, judged; Pearson's chi-square test of homogeneity on the 2×k table of category counts
  (no continuity correction), reported as its p-value and as Cramér's V = sqrt(χ²/n), neither
  judged unless given a limit. A p-value measures the evidence, not the size of a shift: at 200,000
  rows a shift of one point in a category's share is "significant" (p < 1e-6) with a PSI of 0.0006.

Missing values are counted and form a bin/category of their own, so a feature that starts
arriving empty drifts. PSI = Σ (s − t)·ln(s/t) over bins, with t, s the training and serving shares
of a bin; the share of an empty bin (count 0) is replaced by ε = 1e-4 (no renormalisation) so a
bin empty on one side contributes a large but finite term; every other bin counts at its real
share. Numeric bins: a value holding at least 1/bins of the training sample (a point mass, e.g. the
zeros of a zero-inflated feature) gets a bin of its own holding exactly that value; the other
values are cut at their own quantiles into the remaining bins. A value equal to an edge falls in
the bin above it, and the outer bins extend to ±∞, so serving values outside the training range
still count.

A feature is drifted when it breaches any of its limits. One drifted feature is a warning by
default (`feature_severity`); the gate fails when the share of drifted features exceeds
`max_drifted_share`, or when a feature whose limit says `severity: fail` drifts. Which figures were
judged is in the results (`details.judged`, per feature `details.features.<f>.judged`, a finding
`skew.judged`, and unjudged metrics have no limits and a note "reported, not judged"). Sample sizes
are reported because every verdict depends on them.

Prediction parity (`parity:`): two prediction files for the same ids (training environment vs the
packaged model) must agree within `tolerance` (absolute) in every listed column.

`evaluate` is pure; `run` reads the samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlgate.checks.config.skew import ParityConfig, SkewConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.limits import MetricLimits, judge, threshold_check
from mlgate.checks.gates.regression import differs, match_rows, missing_rows_finding, plain
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.tables import read_table
from mlgate.checks.results import Finding, GateResult, Metric, Status, finding_status
from mlgate.checks.wording import plural, verb

GATE = "skew"
# the limit keys of each kind of feature, and the metric each one judges
LIMIT_KEYS = {"numeric": ("psi", "ks"), "categorical": ("psi", "chi2_pvalue", "cramers_v")}
METRIC_OF = {"psi": "psi", "ks": "ks_statistic", "chi2_pvalue": "chi2_pvalue", "cramers_v": "cramers_v"}
EPSILON = 1e-4
MISSING = "<missing>"
MAX_EXAMPLES = 10
MAX_DETAIL_CATEGORIES = 50


# ------------------------------------------------------------------------------------- statistics


def point_masses(train: np.ndarray, bins: int) -> np.ndarray:
    """Values that hold at least 1/bins of the (non-missing) training sample, e.g. the zeros of a
    zero-inflated feature or the levels of a small integer code."""
    values = train[~np.isnan(train)]
    if values.size == 0:
        return np.array([], dtype=float)
    uniq, counts = np.unique(values, return_counts=True)
    return uniq[counts * bins >= values.size].astype(float)


def quantile_edges(train: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges (a value equal to an edge falls in the bin above it).

    Each point mass v gets a bin of its own, [v, next float after v), holding exactly v; the other
    values are cut at their own quantiles into the remaining `bins − masses` bins. Without this, the
    deduplicated quantiles of a feature that is 70% zeros merge the zeros with the lower non-zero
    values, and a shift of the non-zero part is half hidden.
    """
    values = train[~np.isnan(train)]
    if values.size == 0:
        return np.array([], dtype=float)
    masses = point_masses(values, bins)
    rest = values[~np.isin(values, masses)] if masses.size else values
    k = bins - masses.size
    inner = np.quantile(rest, np.linspace(0.0, 1.0, k + 1)[1:-1]) if rest.size and k >= 2 else np.array([])
    return np.unique(np.concatenate([inner, masses, np.nextafter(masses, np.inf)]).astype(float))


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin (len(edges)+1 value bins, then the missing-value bin)."""
    nan = np.isnan(values)
    idx = np.searchsorted(edges, values[~nan], side="right")
    return np.append(np.bincount(idx, minlength=len(edges) + 1), int(nan.sum()))


def psi(train_counts: np.ndarray, serve_counts: np.ndarray, eps: float = EPSILON) -> float:
    """Population stability index of two count vectors over the same bins; an empty bin (count 0)
    counts as a share of ε, every other bin at its real share, however small."""
    t = np.where(train_counts == 0, eps, train_counts / train_counts.sum())
    s = np.where(serve_counts == 0, eps, serve_counts / serve_counts.sum())
    return float(np.sum((s - t) * np.log(s / t)))


def _chi2(train_counts: np.ndarray, serve_counts: np.ndarray) -> tuple[float, float, int]:
    """Pearson's chi-square statistic and p-value of the 2×k table (no continuity correction), and n."""
    table = np.vstack([train_counts, serve_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0, int(table.sum())
    res = stats.chi2_contingency(table, correction=False)
    return float(res.statistic), float(res.pvalue), int(table.sum())


def chi2_pvalue(train_counts: np.ndarray, serve_counts: np.ndarray) -> float:
    """p-value of Pearson's chi-square homogeneity test; 1.0 when there is a single category."""
    return _chi2(train_counts, serve_counts)[1]


def cramers_v(train_counts: np.ndarray, serve_counts: np.ndarray) -> float:
    """Cramér's V of the 2×k table: sqrt(χ² / n), an effect size in [0, 1] (0.1 small, 0.3 medium)
    that does not grow with the sample size the way the p-value shrinks; 0.0 for one category."""
    stat, _, n = _chi2(train_counts, serve_counts)
    return float(np.sqrt(stat / n)) if n else 0.0


def category_counts(train: pd.Series, serve: pd.Series) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Counts per category (values compared as text; missing is the category `<missing>`)."""
    t = _as_categories(train).value_counts()
    s = _as_categories(serve).value_counts()
    cats = sorted(set(t.index) | set(s.index), key=lambda c: (c == MISSING, c))
    return cats, t.reindex(cats, fill_value=0).to_numpy(), s.reindex(cats, fill_value=0).to_numpy()


def _as_categories(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), MISSING).astype(str)


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


# ------------------------------------------------------------------------------------ evaluation


def evaluate(
    training: pd.DataFrame | None,
    serving: pd.DataFrame | None,
    cfg: SkewConfig,
    baseline: GateResult | None,
    *,
    reference: pd.DataFrame | None = None,
    candidate: pd.DataFrame | None = None,
) -> GateResult:
    """Drift per feature between `training` and `serving`, and parity of `reference` vs `candidate`."""

    def base(name: str, slice: str) -> float | None:
        m = baseline.metric(name, slice) if baseline else None
        return None if m is None else m.value

    metrics: list[Metric] = []
    findings: list[Finding] = []
    details: dict[str, Any] = {}
    parts: list[str] = []
    if training is not None and serving is not None:
        drift_parts = _drift(training, serving, cfg, base, metrics, findings, details)
        parts.append(drift_parts)
    if cfg.parity is not None:
        if reference is None or candidate is None:
            raise ConfigError("parity is configured but the prediction files were not given", where="skew.parity")
        parts.append(_parity(reference, candidate, cfg.parity, base, metrics, findings, details))
    status = Status.worst([*(m.status for m in metrics), *(finding_status(f.severity) for f in findings)])
    return GateResult(gate=GATE, status=status, summary="; ".join(parts), metrics=metrics, findings=findings,
                      baseline_used=baseline is not None, details=details)


def feature_list(training: pd.DataFrame, serving: pd.DataFrame, cfg: SkewConfig) -> list[str]:
    if cfg.features is not None:
        for frame, where in ((training, cfg.training), (serving, cfg.serving)):
            missing = [f for f in cfg.features if f not in frame.columns]
            if missing:
                raise InputError(f"feature(s) {', '.join(map(repr, missing))} not in the sample", where=where)
        return list(cfg.features)
    feats = [str(c) for c in training.columns if c in serving.columns and c not in cfg.exclude]
    if not feats:
        raise InputError(f"the training and serving samples have no column in common (after exclude); "
                         f"training has {', '.join(map(str, training.columns))[:200]}", where=cfg.serving)
    return feats


def _limits(feature: str, kind: str, cfg: SkewConfig) -> dict[str, MetricLimits | None]:
    """The limits that apply to one feature: defaults, then its override, then the default severity."""
    defaults = cfg.numeric if kind == "numeric" else cfg.categorical
    names = LIMIT_KEYS[kind]
    override = cfg.per_feature.get(feature)
    if override is not None:
        wrong = [k for k in ("ks", "chi2_pvalue", "cramers_v") if k in override.model_fields_set and k not in names]
        if wrong:
            raise ConfigError(f"{wrong[0]} does not apply to {kind} feature {feature!r}",
                              where=f"skew.per_feature.{feature}")
    out: dict[str, MetricLimits | None] = {}
    for name in names:
        lim = getattr(override, name) if override and name in override.model_fields_set else getattr(defaults, name)
        if lim is not None and "severity" not in lim.model_fields_set:
            lim = lim.model_copy(update={"severity": cfg.feature_severity})
        out[name] = lim
    return out


def _drift(training: pd.DataFrame, serving: pd.DataFrame, cfg: SkewConfig, base: Any,
           metrics: list[Metric], findings: list[Finding], details: dict[str, Any]) -> str:
    feats = feature_list(training, serving, cfg)
    unknown = sorted(set(cfg.per_feature) - set(feats))
    if unknown:
        raise ConfigError(f"per_feature names feature(s) that are not checked: {', '.join(unknown)}",
                          where="skew.per_feature")
    n_t, n_s = len(training), len(serving)
    metrics.append(Metric("rows", n_t, slice="training"))
    metrics.append(Metric("rows", n_s, slice="serving"))
    drifted: list[tuple[str, Status]] = []
    per: dict[str, Any] = {}
    for f in feats:
        t, s = training[f], serving[f]
        override = cfg.per_feature.get(f)
        kind = override.kind if override and override.kind else ("numeric" if _numeric(t) else "categorical")
        if kind == "numeric" and not (_numeric(t) and _numeric(s)):
            bad = cfg.training if not _numeric(t) else cfg.serving
            other = s if _numeric(t) else t
            findings.append(Finding("fail", f"feature '{f}' is numeric in one sample and {other.dtype} in {bad}",
                                    column=f, code="skew.dtype"))
            drifted.append((f, Status.FAIL))
            continue
        lims = _limits(f, kind, cfg)
        feature_metrics, info = (_numeric_metrics if kind == "numeric" else _categorical_metrics)(
            f, t, s, cfg, lims, base)
        miss_t, miss_s = int(t.isna().sum()), int(s.isna().sum())
        info |= {"kind": kind, "training_rows": n_t, "serving_rows": n_s,
                 "training_missing": miss_t, "serving_missing": miss_s}
        note = f"n {n_t:,} vs {n_s:,}; missing {miss_t / n_t:.1%} vs {miss_s / n_s:.1%}"
        for m in feature_metrics:
            m.note = (m.note + "; " if m.note else "") + note
        for m in feature_metrics:
            if not m.limits:
                m.note = "reported, not judged; " + m.note
        info["judged"] = [m.name for m in feature_metrics if m.limits]
        metrics.extend(feature_metrics)
        per[f] = info
        worst = Status.worst(m.status for m in feature_metrics)
        if any(lim.status != Status.PASS for m in feature_metrics for lim in m.limits):
            drifted.append((f, worst))
        if info.get("unseen_categories"):
            unseen = info["unseen_categories"]
            findings.append(Finding("info", f"serving has {len(unseen)} value(s) of '{f}' never seen in training",
                                    column=f, count=len(unseen), examples=unseen[:MAX_EXAMPLES],
                                    code="skew.unseen_category"))
    judged_any = sorted({name for info in per.values() for name in info["judged"]})
    share = len(drifted) / len(feats)
    metrics.append(threshold_check("drifted_share", share, "max_share", cfg.max_drifted_share))
    if drifted:
        sev = Status.worst([*(st for _, st in drifted), metrics[-1].status])
        findings.append(Finding(
            "fail" if sev in (Status.FAIL, Status.ERROR) else "warn",
            f"{len(drifted)} of {len(feats)} features drifted (breached a limit on {_names(judged_any)})",
            count=len(drifted), examples=[f for f, _ in drifted[:MAX_EXAMPLES]], code="skew.drifted"))
    details["features"] = per
    details["drifted"] = [f for f, _ in drifted]
    details["judged"] = {kind: _judged_by_default(kind, cfg) for kind in LIMIT_KEYS}
    findings.append(_judged_finding(per, cfg))
    if per and not judged_any:
        findings.append(Finding("warn", "nothing judged: every drift limit is disabled (null), so no feature's "
                                "drift can block a merge", code="skew.nothing_judged"))
    verdict = "≤" if share <= cfg.max_drifted_share + 1e-12 else ">"
    names = f": {', '.join(f for f, _ in drifted[:5])}" + ("…" if len(drifted) > 5 else "") if drifted else ""
    return (f"{len(drifted)} of {len(feats)} features drifted ({share:.0%} {verdict} {cfg.max_drifted_share:.0%})"
            f"{names}; {n_t:,} training vs {n_s:,} serving rows")


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def _judged_by_default(kind: str, cfg: SkewConfig) -> list[str]:
    defaults = cfg.numeric if kind == "numeric" else cfg.categorical
    return [METRIC_OF[k] for k in LIMIT_KEYS[kind] if getattr(defaults, k) is not None]


def _judged_finding(per: dict[str, Any], cfg: SkewConfig) -> Finding:
    """Which figures decide drift, and which are only shown: the p-value is a figure of sample size."""
    kinds = [k for k in LIMIT_KEYS if any(info["kind"] == k for info in per.values())]
    judged = [f"{_names(_judged_by_default(k, cfg))} ({k} features)" for k in kinds]
    shown = sorted({METRIC_OF[key] for k in kinds for key in LIMIT_KEYS[k]}
                   - {m for k in kinds for m in _judged_by_default(k, cfg)})
    text = "drift judged on " + ("; ".join(judged) or "nothing")
    if shown:
        text += (f"; reported, not judged: {', '.join(shown)} (a limit on one judges it; note that a p-value "
                 "shrinks as samples grow: at 200,000 rows a trivial shift is 'significant')")
    overridden = sorted(f for f in cfg.per_feature if f in per)
    if overridden:
        text += f"; per-feature limits for {', '.join(overridden)}"
    return Finding("info", text, code="skew.judged")


def _numeric_metrics(f: str, t: pd.Series, s: pd.Series, cfg: SkewConfig,
                     lims: dict[str, MetricLimits | None], base: Any) -> tuple[list[Metric], dict[str, Any]]:
    tv = t.to_numpy(dtype=float, na_value=np.nan)
    sv = s.to_numpy(dtype=float, na_value=np.nan)
    edges = quantile_edges(tv, cfg.bins)
    tc, sc = bin_counts(tv, edges), bin_counts(sv, edges)
    p = psi(tc, sc)
    t_ok, s_ok = tv[~np.isnan(tv)], sv[~np.isnan(sv)]
    ks = float(stats.ks_2samp(t_ok, s_ok).statistic) if t_ok.size and s_ok.size else None
    out = [
        judge("psi", p, lims["psi"], higher_is_better=False, baseline=base("psi", f), slice=f),
        judge("ks_statistic", ks, lims["ks"], higher_is_better=False, baseline=base("ks_statistic", f), slice=f),
    ]
    if ks is None:
        out[1].note = "no non-missing values on one side"
    info = {"bin_edges": [plain(e) for e in edges], "point_masses": [plain(v) for v in point_masses(tv, cfg.bins)],
            "training_counts": tc.tolist(), "serving_counts": sc.tolist()}
    return out, info


def _categorical_metrics(f: str, t: pd.Series, s: pd.Series, cfg: SkewConfig,
                         lims: dict[str, MetricLimits | None], base: Any) -> tuple[list[Metric], dict[str, Any]]:
    cats, tc, sc = category_counts(t, s)
    out = [
        judge("psi", psi(tc, sc), lims["psi"], higher_is_better=False, baseline=base("psi", f), slice=f),
        judge("chi2_pvalue", chi2_pvalue(tc, sc), lims["chi2_pvalue"], higher_is_better=True,
              baseline=base("chi2_pvalue", f), slice=f),
        judge("cramers_v", cramers_v(tc, sc), lims["cramers_v"], higher_is_better=False,
              baseline=base("cramers_v", f), slice=f),
    ]
    unseen = [c for c, a, b in zip(cats, tc, sc, strict=True) if a == 0 and b > 0]
    info: dict[str, Any] = {"categories": len(cats), "unseen_categories": unseen}
    if len(cats) <= MAX_DETAIL_CATEGORIES:
        info |= {"training_counts": dict(zip(cats, tc.tolist(), strict=True)),
                 "serving_counts": dict(zip(cats, sc.tolist(), strict=True))}
    return out, info


def _parity(ref: pd.DataFrame, cand: pd.DataFrame, cfg: ParityConfig, base: Any,
            metrics: list[Metric], findings: list[Finding], details: dict[str, Any]) -> str:
    """Row-by-row agreement of two prediction files for the same ids."""
    m = match_rows(ref, cand, cfg.id, cfg.reference, cfg.candidate)
    both, n = m.both, len(m.both)
    n_missing = len(m.only_ref) + len(m.only_new)
    metrics.append(Metric("parity_rows_compared", n))
    metrics.append(threshold_check("parity_missing_rows", n_missing, "max", 0, severity=cfg.severity))
    missing = missing_rows_finding(m, "reference", "candidate", "parity.rows_missing")
    if missing:
        missing.severity = cfg.severity
        findings.append(missing)
    bad_total, worst_diff = 0, 0.0
    for col in cfg.columns:
        a, b = both[f"{col}_ref"], both[f"{col}_new"]
        if _numeric(a) and _numeric(b):
            av, bv = a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
            diff = np.abs(av - bv)
            one_missing = np.isnan(av) != np.isnan(bv)
            over = one_missing | (diff > cfg.tolerance)
            finite = diff[~np.isnan(diff)]
            max_diff = float(finite.max()) if finite.size else 0.0
            worst_diff = max(worst_diff, max_diff)
            dm = threshold_check("parity_max_abs_diff", max_diff, "max", cfg.tolerance, severity=cfg.severity,
                                 slice=col)
            dm.baseline = base("parity_max_abs_diff", col)
            metrics.append(dm)
            rank = np.where(one_missing, np.inf, np.nan_to_num(diff, nan=-1.0))
            what = f"by more than {cfg.tolerance:g}"
        else:
            over = differs(a, b)
            rank = over.astype(float)
            what = ""
        count = int(over.sum())
        bad_total += count
        metrics.append(threshold_check("parity_over_tolerance", count, "max", 0, severity=cfg.severity, slice=col))
        if count:
            order = np.argsort(-np.where(over, rank, -2.0), kind="stable")[: min(MAX_EXAMPLES, count)]
            findings.append(Finding(
                cfg.severity, f"{count} of {n} rows differ in '{col}'{' ' + what if what else ''}",
                column=col, count=count, code="parity.mismatch",
                examples=[{"id": both["key"].iat[i], "reference": plain(a.iat[i]), "candidate": plain(b.iat[i])}
                          for i in order]))
    details["parity"] = {"rows_compared": n, "only_in_reference": len(m.only_ref),
                         "only_in_candidate": len(m.only_new), "rows_over_tolerance": bad_total,
                         "max_abs_diff": worst_diff, "tolerance": cfg.tolerance}
    text = f"prediction parity: {n:,} rows compared, "
    if bad_total:
        text += f"{plural(bad_total, 'value')} {verb(bad_total, 'differs', 'differ')} " \
            f"by more than {cfg.tolerance:g} (max {worst_diff:.3g})"
    else:
        text += f"all agree within {cfg.tolerance:g} (max diff {worst_diff:.3g})"
    if n_missing:
        text += f", {plural(n_missing, 'row')} in only one file"
    return text


# ----------------------------------------------------------------------------------------- I/O


def run(config: Any, ctx: RunContext, baseline: GateResult | None) -> GateResult:
    """Read the samples (and parity prediction files) named by `config.skew` and evaluate them."""
    cfg: SkewConfig | None = getattr(config, "skew", None)
    if cfg is None:
        raise ConfigError("no 'skew' section in the config")
    training = serving = reference = candidate = None
    if cfg.training is not None and cfg.serving is not None:
        training = read_table(ctx.record(cfg.training), cfg.features)
        serving = read_table(ctx.record(cfg.serving), cfg.features)
    if cfg.parity is not None:
        cols = [cfg.parity.id, *cfg.parity.columns]
        reference = read_table(ctx.record(cfg.parity.reference), cols)
        candidate = read_table(ctx.record(cfg.parity.candidate), cols)
    return evaluate(training, serving, cfg, baseline, reference=reference, candidate=candidate)
