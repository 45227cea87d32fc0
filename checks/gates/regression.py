"""The regression gate: on a fixed golden set, the candidate model predicts what the base model did.

Aggregate metrics can stay flat while individual answers change; a golden set catches that. Rows
are matched by id. A changed predicted label counts towards `changed_share`, a score moving by more
than `max_score_change` is a score regression. Changes the author expects are listed under
`acknowledge:` (ids): they are shown in the report but not judged, so a deliberate change can land
without loosening the limits for everything else. Rows present in only one file fail the gate: a
golden set that silently shrinks proves nothing.

`evaluate` is pure; `run` reads the two prediction files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlgate.checks.config.regression import RegressionConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.limits import MetricLimits, judge
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.tables import read_table
from mlgate.checks.results import Finding, GateResult, Metric, Status, finding_status
from mlgate.checks.wording import plural, verb

GATE = "regression"
MAX_EXAMPLES = 10


# ------------------------------------------------------------------------------- row matching


@dataclass
class Matched:
    """Two tables joined by id: `both` has `<col>_ref`/`<col>_new` columns and a string `key`."""

    both: pd.DataFrame
    only_ref: list[str]
    only_new: list[str]


def id_keys(s: pd.Series, id_col: str, where: str) -> pd.Series:
    """Ids as strings so a CSV's 7 and a Parquet file's "7" (or 7.0) match; nulls/duplicates are errors."""
    if s.isna().any():
        raise InputError(f"id column {id_col!r} has {plural(int(s.isna().sum()), 'missing value')}", where=where)
    if pd.api.types.is_float_dtype(s) and bool(np.all(np.mod(s.to_numpy(), 1) == 0)):
        s = s.astype("int64")
    keys = s.astype(str)
    dup = keys[keys.duplicated(keep=False)]
    if len(dup):
        shown = ", ".join(dict.fromkeys(dup.tolist()[:MAX_EXAMPLES]))
        raise InputError(f"id column {id_col!r} has {plural(dup.nunique(), 'duplicated id')}, e.g. {shown}",
                         where=where)
    return keys


def match_rows(ref: pd.DataFrame, new: pd.DataFrame, id_col: str, ref_where: str, new_where: str) -> Matched:
    """Join two prediction tables on their id column (an outer join, so nothing drops silently)."""
    r = ref.assign(key=id_keys(ref[id_col], id_col, ref_where)).drop(columns=[id_col])
    n = new.assign(key=id_keys(new[id_col], id_col, new_where)).drop(columns=[id_col])
    joined = r.merge(n, on="key", how="outer", suffixes=("_ref", "_new"), indicator=True, sort=False)
    only_ref = joined.loc[joined["_merge"] == "left_only", "key"].tolist()
    only_new = joined.loc[joined["_merge"] == "right_only", "key"].tolist()
    both = joined[joined["_merge"] == "both"].drop(columns="_merge").reset_index(drop=True)
    return Matched(both, only_ref, only_new)


def differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Elementwise 'not the same value'; two missing values are the same, one missing is not."""
    na_a, na_b = a.isna().to_numpy(), b.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        ne = a.to_numpy(dtype=float, na_value=np.nan) != b.to_numpy(dtype=float, na_value=np.nan)
    else:
        ne = a.astype(str).to_numpy() != b.astype(str).to_numpy()
    return np.where(na_a | na_b, na_a != na_b, ne)


def missing_rows_finding(m: Matched, ref_name: str, new_name: str, code: str) -> Finding | None:
    if not m.only_ref and not m.only_new:
        return None
    parts = []
    if m.only_ref:
        parts.append(f"{plural(len(m.only_ref), 'row')} only in {ref_name}")
    if m.only_new:
        parts.append(f"{plural(len(m.only_new), 'row')} only in {new_name}")
    examples = [{"id": k, "only_in": ref_name} for k in m.only_ref[:MAX_EXAMPLES]]
    examples += [{"id": k, "only_in": new_name} for k in m.only_new[:MAX_EXAMPLES]]
    return Finding("fail", "; ".join(parts) + ": both files must cover the same ids",
                   count=len(m.only_ref) + len(m.only_new), examples=examples, code=code)


def plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


# ---------------------------------------------------------------------------------- evaluation


def evaluate(golden: pd.DataFrame, base_preds: pd.DataFrame, cfg: RegressionConfig,
             baseline: GateResult | None) -> GateResult:
    """Compare candidate (`golden`) with base-model predictions (`base_preds`) row by row."""
    id_col, p, s = resolved(cfg)
    m = match_rows(base_preds, golden, id_col, cfg.baseline_predictions, cfg.golden)
    both = m.both
    n = len(both)
    if n == 0:
        raise InputError(f"no id appears in both {cfg.baseline_predictions} and {cfg.golden}", where=cfg.golden)
    acknowledged = {str(a) for a in cfg.acknowledge}
    ack = both["key"].isin(acknowledged).to_numpy()

    def base(name: str) -> float | None:
        bm = baseline.metric(name) if baseline else None
        return None if bm is None else bm.value

    metrics = [Metric("rows_compared", n, note=f"{plural(len(m.only_ref) + len(m.only_new), 'row')} in only one file")]
    findings: list[Finding] = []
    missing = missing_rows_finding(m, "baseline_predictions", "golden", "regression.rows_missing")
    if missing:
        findings.append(missing)
    moved = np.zeros(n, dtype=bool)  # any change, acknowledged or not
    changed_count = 0
    if p:
        changed = differs(both[f"{p}_ref"], both[f"{p}_new"])
        moved |= changed
        judged = changed & ~ack
        changed_count = int(judged.sum())
        share = judge("changed_share", changed_count / n,
                      MetricLimits(max=cfg.max_changed_share, severity=cfg.severity),
                      higher_is_better=False, baseline=base("changed_share"))
        share.note = f"{changed_count} of {n} predictions changed"
        metrics.append(share)
        if changed_count:
            rows = both[judged].head(MAX_EXAMPLES)
            findings.append(Finding(
                _severity(share.status), f"{plural(changed_count, 'golden row')} changed '{p}'", column=p,
                count=changed_count, code="regression.changed",
                examples=[{"id": r["key"], "baseline": plain(r[f"{p}_ref"]), "candidate": plain(r[f"{p}_new"])}
                          for _, r in rows.iterrows()]))
    if s:
        score_metric, score_findings, score_moved = _scores(both, s, ack, cfg, base("max_score_change"))
        metrics.append(score_metric)
        findings += score_findings
        moved |= score_moved

    findings += _acknowledged(both, ack, moved, acknowledged, p, s)
    status = Status.worst([*(x.status for x in metrics), *(finding_status(f.severity) for f in findings)])
    return GateResult(
        gate=GATE, status=status,
        summary=_summary(n, changed_count, metrics, m, int((ack & moved).sum()), cfg),
        metrics=metrics, findings=findings, baseline_used=baseline is not None,
        details={"rows_compared": n, "only_in_baseline_predictions": len(m.only_ref),
                 "only_in_golden": len(m.only_new), "acknowledged": int((ack & moved).sum())},
    )


def resolved(cfg: RegressionConfig) -> tuple[str, str | None, str | None]:
    if not cfg.id:
        raise ConfigError("regression.id is not set (nor predictions.id): name the golden set's id column")
    if not cfg.prediction and not cfg.score:
        raise ConfigError("regression needs a prediction or a score column (regression.prediction / .score)")
    return cfg.id, cfg.prediction, cfg.score


def _scores(both: pd.DataFrame, s: str, ack: np.ndarray, cfg: RegressionConfig,
            base: float | None) -> tuple[Metric, list[Finding], np.ndarray]:
    """Largest absolute score change over the unacknowledged rows, and the rows beyond the limit."""
    for side, where in (("ref", cfg.baseline_predictions), ("new", cfg.golden)):
        if not pd.api.types.is_numeric_dtype(both[f"{s}_{side}"]):
            raise InputError(f"score column {s!r} must be numeric, is {both[f'{s}_{side}'].dtype}", where=where)
    a = both[f"{s}_ref"].to_numpy(dtype=float, na_value=np.nan)
    b = both[f"{s}_new"].to_numpy(dtype=float, na_value=np.nan)
    diff = np.abs(b - a)
    one_missing = np.isnan(a) != np.isnan(b)
    valid = ~np.isnan(diff) & ~ack
    tol = cfg.max_score_change
    metric = judge("max_score_change", float(diff[valid].max()) if valid.any() else 0.0,
                   MetricLimits(max=tol, severity=cfg.severity) if tol is not None else None,
                   higher_is_better=False, baseline=base)
    breach = "warn" if cfg.severity == "warn" else "fail"
    findings = []
    over = valid & (diff > tol + 1e-12) if tol is not None else np.zeros(len(diff), dtype=bool)
    if over.any():
        order = np.argsort(-np.where(over, diff, -1.0), kind="stable")[: min(MAX_EXAMPLES, int(over.sum()))]
        findings.append(Finding(
            breach, f"{plural(int(over.sum()), 'golden row')} moved '{s}' by more than {tol:g}", column=s,
            count=int(over.sum()), code="regression.score_changed",
            examples=[{"id": both["key"].iat[i], "baseline": plain(a[i]), "candidate": plain(b[i]),
                       "change": plain(diff[i])} for i in order]))
    gone = one_missing & ~ack
    if gone.any():
        findings.append(Finding(
            breach, f"{plural(int(gone.sum()), 'golden row')} {verb(int(gone.sum()), 'has', 'have')} a '{s}' in one "
            "file but not the other", column=s,
            count=int(gone.sum()), code="regression.score_missing",
            examples=[{"id": k} for k in both.loc[gone, "key"].head(MAX_EXAMPLES)]))
    return metric, findings, (diff > 0) | one_missing


def _acknowledged(both: pd.DataFrame, ack: np.ndarray, moved: np.ndarray, acknowledged: set[str],
                  p: str | None, s: str | None) -> list[Finding]:
    """Acknowledged changes are shown (info); acknowledged ids that did not change are stale."""
    out = []
    shown = ack & moved
    if shown.any():
        rows = both[shown].head(MAX_EXAMPLES)
        examples = []
        for _, r in rows.iterrows():
            ex: dict[str, Any] = {"id": r["key"]}
            if p:
                ex |= {"baseline": plain(r[f"{p}_ref"]), "candidate": plain(r[f"{p}_new"])}
            if s:
                ex |= {"baseline_score": plain(r[f"{s}_ref"]), "candidate_score": plain(r[f"{s}_new"])}
            examples.append(ex)
        out.append(Finding("info", f"{plural(int(shown.sum()), 'acknowledged change')}, not judged",
                           count=int(shown.sum()), examples=examples, code="regression.acknowledged"))
    present = set(both["key"])
    stale = sorted(acknowledged - set(both.loc[shown, "key"]))
    if stale:
        unknown = [k for k in stale if k not in present]
        msg = f"{plural(len(stale), 'acknowledged id')} did not change"
        if unknown:
            msg += f" ({len(unknown)} are not in the golden set)"
        out.append(Finding("info", msg + ": remove them from regression.acknowledge", count=len(stale),
                           examples=[{"id": k} for k in stale[:MAX_EXAMPLES]], code="regression.ack_unused"))
    return out


def _severity(status: Status) -> str:
    return {Status.PASS: "info", Status.WARN: "warn"}.get(status, "fail")


def _summary(n: int, k: int, metrics: list[Metric], m: Matched, acked: int, cfg: RegressionConfig) -> str:
    parts = []
    share = next((x for x in metrics if x.name == "changed_share"), None)
    if share is not None:
        verdict = "≤" if share.status == Status.PASS else ">"
        parts.append(f"{k} of {n} golden rows changed prediction ({k / n:.1%} {verdict} {cfg.max_changed_share:.1%})")
    else:
        parts.append(f"{n} golden rows compared")
    sc = next((x for x in metrics if x.name == "max_score_change"), None)
    if sc is not None and sc.value is not None:
        lim = cfg.max_score_change
        rel = "" if lim is None else f" ({'≤' if sc.status == Status.PASS else '>'} {lim:g})"
        parts.append(f"largest score change {sc.value:.4g}{rel}")
    if acked:
        parts.append(f"{acked} acknowledged")
    if m.only_ref or m.only_new:
        parts.append(f"{plural(len(m.only_ref) + len(m.only_new), 'row')} in only one file")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------- I/O


def run(config: Any, ctx: RunContext, baseline: GateResult | None) -> GateResult:
    """Read the golden-set predictions of candidate and base model and compare them."""
    cfg: RegressionConfig | None = getattr(config, "regression", None)
    if cfg is None:
        raise ConfigError("no 'regression' section in the config")
    preds = getattr(config, "predictions", None)
    if preds is not None:
        update = {"id": cfg.id or preds.id}
        if not cfg.prediction and not cfg.score:  # the two columns come together or not at all
            update |= {"prediction": preds.prediction, "score": preds.score}
        cfg = cfg.model_copy(update=update)
    cols = [c for c in resolved(cfg) if c]
    golden = read_table(ctx.record(cfg.golden), cols)
    base_preds = read_table(ctx.record(cfg.baseline_predictions), cols)
    return evaluate(golden, base_preds, cfg, baseline)
