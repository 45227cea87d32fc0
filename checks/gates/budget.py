"""The budget gate: what the model costs (file size, parameters, sparsity, latency, peak memory).

Absolute limits (`max_size_mb`, `max_parameters`, `max_p99_ms`, …) and growth against the base
commit (`max_relative_growth`) are judged like every metric limit (checks/gates/limits.py). One
rule ties cost to quality: `growth_needs_gain` fails a change whose parameters grow by more than
`max_parameter_growth` while the quality gate's primary metric improves by less than `min_gain`
(a model three times the size for the same AUC does not land).

Latency is noisy, so it is judged with care (checks/gates/latency.py measures it): the figure is
the median over `repeats` (at least 3) of each repeat's p50/p99, the spread is reported, and a
limit fails only when the median exceeds it by more than `tolerance`; within the tolerance it
warns. So a failure needs most repeats beyond the limit, never one sample. Latency is compared
with the base only when both were measured alike: the base commit's model timed in the same run
(`baseline_model`), or the base results measured on the same CPU model; otherwise the growth limit
is not applied and the report says why.

The base's size and parameters come from `baseline_model` when configured (counted in this run),
else from the base commit's results (`--baseline`). `evaluate` is pure; `run` gathers the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlgate.checks.config.budget import BudgetConfig, GrowthNeedsGain, LatencyConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates import latency as timing
from mlgate.checks.gates.latency import LatencySample, Spread, Workload, machine, peak_memory_bytes
from mlgate.checks.gates.limits import MetricLimits, Severity, judge
from mlgate.checks.gates.parameters import ParameterCount
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.model_files import ModelFile, default_model_path, inspect_model, model_features, model_input
from mlgate.checks.inputs.tables import read_table
from mlgate.checks.results import Finding, GateResult, LimitCheck, Metric, Status, finding_status

GATE = "budget"
MB = 1024 * 1024
# measure -> (metric name, slice)
MEASURES: dict[str, tuple[str, str]] = {
    "size_mb": ("size_mb", "model"),
    "parameters": ("parameters", "model"),
    "row_p50_ms": ("row_p50_ms", "latency"),
    "row_p99_ms": ("row_p99_ms", "latency"),
    "batch_p50_ms": ("batch_p50_ms", "latency"),
    "batch_p99_ms": ("batch_p99_ms", "latency"),
    "peak_memory_mb": ("peak_memory_mb", "memory"),
}
LATENCY_LIMIT_KEYS = {"row_p99_ms": "max_p99_ms", "batch_p99_ms": "max_batch_p99_ms"}
UNSTABLE_SPREAD = 0.5  # repeats further apart than this (relative) get a note


# ---------------------------------------------------------------------------------------- facts


@dataclass
class ModelCost:
    """The measured cost of one model."""

    path: str
    format: str
    size_bytes: int
    parameters: ParameterCount | None
    latency: LatencySample | None = None
    peak_memory_bytes: int | None = None

    @property
    def size_mb(self) -> float:
        return self.size_bytes / MB

    def value(self, measure: str) -> float | None:
        if measure == "size_mb":
            return self.size_mb
        if measure == "parameters":
            return None if self.parameters is None else self.parameters.total
        if measure == "peak_memory_mb":
            return None if self.peak_memory_bytes is None else self.peak_memory_bytes / MB
        spread = self.spread(measure)
        return None if spread is None else spread.median

    def spread(self, measure: str) -> Spread | None:
        if self.latency is None or not measure.endswith("_ms"):
            return None
        kind, pct = measure.split("_")[0], float(measure.split("_")[1].lstrip("p"))
        return self.latency.spread(kind, pct)


@dataclass
class QualityValue:
    """The primary quality metric of this run (for `growth_needs_gain`)."""

    name: str
    slice: str
    value: float | None
    higher_is_better: bool
    base_value: float | None = None  # the base model on the same rows, when scored in this run
    note: str = ""  # where the values come from, when not the quality gate's predictions


@dataclass
class BudgetFacts:
    candidate: ModelCost
    base: ModelCost | None = None  # the base commit's model, measured in this run
    quality: QualityValue | None = None
    machine: dict[str, Any] = field(default_factory=dict)
    latency_setup: dict[str, Any] = field(default_factory=dict)  # rows, batch_size, repeats … as measured
    notes: list[Finding] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- judging


def judge_latency(name: str, spread: Spread | None, limit: float | None, tolerance: float, severity: Severity,
                  *, base: float | None = None, growth: float | None = None, base_note: str = "") -> Metric:
    """A latency (median of repeats) against an absolute limit and a growth limit, with a tolerance band.

    Above a limit but within `tolerance` (relative) of it: a warning; beyond: the breach `severity`.
    """
    breach = Status.WARN if severity == "warn" else Status.FAIL
    value = None if spread is None else spread.median
    checks: list[LimitCheck] = []

    def status(observed: float, allowed: float) -> Status:
        if observed <= allowed + 1e-12:
            return Status.PASS
        return Status.WARN if observed <= allowed * (1 + tolerance) + 1e-12 else breach

    if limit is not None:
        checks.append(LimitCheck("max", limit, Status.WARN if value is None else status(value, limit), value, breach))
    rel = None
    if growth is not None and base is not None and base > 0 and value is not None:
        rel = value / base - 1
        s = status(value, base * (1 + growth))
        checks.append(LimitCheck("max_relative_increase", growth, s, rel, breach))
    notes = []
    if spread is not None:
        notes.append(f"median of {spread.repeats} repeats (lowest {spread.low:.3g}, highest {spread.high:.3g} ms)")
        if checks:
            notes.append(f"a limit fails only beyond +{tolerance:.0%} tolerance; within it, it warns")
    elif limit is not None:
        notes.append("not measured: the limit cannot be judged")
    if base_note:
        notes.append(base_note)
    return Metric(name=name, value=value, status=Status.worst(c.status for c in checks), slice="latency",
                  baseline=base, delta=None if value is None or base is None else value - base,
                  higher_is_better=False, limits=checks, note="; ".join(notes))


def _base_metric(baseline: GateResult | None, name: str, slice_name: str) -> float | None:
    m = baseline.metric(name, slice_name) if baseline else None
    return None if m is None else m.value


def _same_machine(baseline: GateResult | None, here: dict[str, Any]) -> tuple[bool, str]:
    there = (baseline.details or {}).get("machine") if baseline else None
    if not isinstance(there, dict) or not there.get("cpu"):
        return False, "the base results do not say which CPU measured them"
    if there.get("cpu") != here.get("cpu") or there.get("cores") != here.get("cores"):
        return False, (f"the base was measured on {there.get('cpu')} ({there.get('cores')} cores), this run on "
                       f"{here.get('cpu')} ({here.get('cores')} cores)")
    return True, ""


def evaluate(facts: BudgetFacts, cfg: BudgetConfig, baseline: GateResult | None) -> GateResult:
    """Judge the measured costs against the limits, the base and the gain rule (pure)."""
    cand, base = facts.candidate, facts.base
    findings: list[Finding] = list(facts.notes)
    metrics: list[Metric] = []
    growth = cfg.max_relative_growth
    breach_severity = cfg.severity

    def base_value(measure: str) -> tuple[float | None, str]:
        name, slice_name = MEASURES[measure]
        if base is not None:
            v = base.value(measure)
            if v is not None:
                return v, "base: the base commit's model, measured in this run"
        return _base_metric(baseline, name, slice_name), ""

    # size and parameters
    for measure, limit in (("size_mb", cfg.max_size_mb), ("parameters", cfg.max_parameters)):
        value = cand.value(measure)
        b, how = base_value(measure)
        limits = MetricLimits(max=limit, max_relative_drop=growth.get(measure), severity=breach_severity)
        if value is None:  # parameters of a format mlgate cannot count
            m = Metric(measure, None, slice="model", baseline=b, higher_is_better=False,
                       note="not countable without running code from the file")
            if limit is not None or measure in growth:
                findings.append(Finding("warn", f"{measure} unknown for this {cand.format} file: its limits are not "
                                        "judged", code="budget.parameters_unknown"))
        else:
            m = judge(measure, float(value) if measure == "size_mb" else value, limits, higher_is_better=False,
                      baseline=b, slice="model")
            if how:
                m.note = "; ".join(x for x in (m.note, how) if x)
        metrics.append(m)
    params = cand.parameters
    if params is not None:
        metrics.append(Metric("sparsity", params.sparsity, slice="model",
                              baseline=_base_metric(baseline, "sparsity", "model") if base is None or
                              base.parameters is None else base.parameters.sparsity,
                              note=f"share of zeros among {params.weights:,} numeric weights (tree nodes and "
                                   "categories are parameters but not weights)"))
        if not params.complete:
            findings.append(Finding(
                "warn", "parameters not counted for " + ", ".join(params.unknown) + ": the count is a lower bound"
                + (" and max_parameters passes only on what was counted" if cfg.max_parameters is not None else ""),
                count=len(params.unknown), code="budget.parameters_incomplete"))

    # latency and memory
    tolerance = cfg.latency.tolerance if cfg.latency else 0.0
    same_cpu, cpu_why = _same_machine(baseline, facts.machine)
    for measure in ("row_p50_ms", "row_p99_ms", "batch_p50_ms", "batch_p99_ms"):
        spread = cand.spread(measure)
        limit_key = LATENCY_LIMIT_KEYS.get(measure)
        limit = getattr(cfg, limit_key) if limit_key else None
        if spread is None and limit is None:
            continue
        b, note = None, ""
        if base is not None and base.spread(measure) is not None:
            b, note = base.value(measure), "base: the base commit's model, timed in this run, interleaved"
        elif same_cpu:
            b, note = _base_metric(baseline, measure, "latency"), "base: the base results, measured on the same CPU"
        elif measure in growth and baseline is not None:
            note = f"growth not judged: {cpu_why}"
        metrics.append(judge_latency(measure, spread, limit, tolerance, breach_severity, base=b,
                                     growth=growth.get(measure), base_note=note))
    if cand.peak_memory_bytes is not None or cfg.max_peak_memory_mb is not None:
        value = cand.value("peak_memory_mb")
        b, how = base_value("peak_memory_mb")
        if base is None and not same_cpu:
            b = None  # memory depends on the library versions and machine as much as latency does
        limits = MetricLimits(max=cfg.max_peak_memory_mb, max_relative_drop=growth.get("peak_memory_mb"),
                              severity=breach_severity)
        m = judge("peak_memory_mb", value, limits, higher_is_better=False, baseline=b, slice="memory")
        m.note = "; ".join(x for x in (m.note, "traced allocations while predicting one batch", how) if x)
        metrics.append(m)
    for measure in ("row_p99_ms", "batch_p99_ms"):
        spread = cand.spread(measure)
        if spread is not None and (spread.relative_spread or 0) > UNSTABLE_SPREAD:
            findings.append(Finding(
                "info", f"{measure}: the repeats were {spread.relative_spread:.0%} apart (lowest {spread.low:.3g} ms, "
                f"highest {spread.high:.3g} ms): the machine was busy; more repeats give a steadier median",
                code="budget.latency_unstable"))

    # a bigger model must buy quality
    if cfg.growth_needs_gain is not None:
        metrics += _growth_rule(cfg.growth_needs_gain, cand, base, facts.quality, baseline, findings)
    elif facts.quality is not None:
        metrics.append(_quality_metric(facts.quality, baseline))

    if not cfg.has_limits():
        findings.append(Finding("warn", "no limits configured: this gate reports the model's cost but cannot block a "
                                "merge; add e.g. budget.max_parameters or budget.max_relative_growth",
                                code="budget.unjudged"))
    status = Status.worst([*(m.status for m in metrics), *(finding_status(f.severity) for f in findings)])
    details: dict[str, Any] = {
        "model": {"path": cand.path, "format": cand.format, "size_bytes": cand.size_bytes},
        "parameters": None if params is None else {
            "total": params.total, "weights": params.weights, "zeros": params.zeros, "complete": params.complete,
            "unknown": params.unknown, "parts": [p.to_dict() for p in params.grouped()]},
        "machine": facts.machine,
        "latency": _latency_details(cand, facts.latency_setup),
    }
    if base is not None:
        details["base_model"] = {"path": base.path, "format": base.format, "size_bytes": base.size_bytes,
                                 "parameters": None if base.parameters is None else base.parameters.total,
                                 "latency": _latency_details(base, facts.latency_setup)}
    return GateResult(gate=GATE, status=status, summary=_summary(metrics, cand, cfg), metrics=metrics,
                      findings=findings, baseline_used=baseline is not None or base is not None, details=details)


def _latency_details(cost: ModelCost, setup: dict[str, Any]) -> dict[str, Any] | None:
    if cost.latency is None:
        return None
    out: dict[str, Any] = dict(setup)
    for measure in ("row_p50_ms", "row_p99_ms", "batch_p50_ms", "batch_p99_ms"):
        spread = cost.spread(measure)
        out[measure] = None if spread is None else spread.to_dict()
    out["peak_memory_bytes"] = cost.peak_memory_bytes
    return out


def _quality_metric(q: QualityValue, baseline: GateResult | None) -> Metric:
    b = q.base_value if q.base_value is not None else _base_metric(baseline, q.name, "quality")
    return Metric(q.name, q.value, slice="quality", baseline=b,
                  delta=None if q.value is None or b is None else q.value - b, higher_is_better=q.higher_is_better,
                  note=q.note or f"the quality gate's {q.name} ({q.slice} rows), recorded for the growth rule")


def _growth_rule(rule: GrowthNeedsGain, cand: ModelCost, base: ModelCost | None, quality: QualityValue | None,
                 baseline: GateResult | None, findings: list[Finding]) -> list[Metric]:
    """The quality metric (as recorded) and `parameter_growth`, which fails when parameters grew beyond
    `max_parameter_growth` while the metric gained less than `min_gain`."""
    breach = Status.WARN if rule.severity == "warn" else Status.FAIL
    q = _quality_metric(quality, baseline) if quality is not None else None
    new = None if cand.parameters is None else cand.parameters.total
    old = base.parameters.total if base is not None and base.parameters is not None else _base_metric(
        baseline, "parameters", "model")
    growth = None if new is None or not old else new / old - 1
    gain = None
    if q is not None and q.value is not None and q.baseline is not None:
        gain = (q.value - q.baseline) * (1 if q.higher_is_better else -1)
    name = q.name if q is not None else (rule.metric or "quality")
    grew = growth is not None and growth > rule.max_parameter_growth + 1e-12
    status = Status.PASS
    why = ""
    if growth is None:
        why = ("no parameter count for the base (give budget.baseline_model, or a --baseline with budget results)"
               if new is not None else "the parameters of this model are unknown")
        status = Status.WARN
    elif grew and gain is None:
        why = (f"no base value of {name} (the base results have no budget metric {name!r} in slice 'quality')"
               if q is not None and q.value is not None else f"{name} could not be computed for this run")
        status = Status.WARN
    elif grew and gain is not None and gain < rule.min_gain - 1e-12:
        status = breach
    if why:
        findings.append(Finding("warn", f"growth_needs_gain not judged: {why}", code="budget.growth_unjudged"))
    gain_text = "n/a" if gain is None else f"{gain:+.4g}"
    rule_metric = Metric(
        "parameter_growth", growth, status=status, slice="model", higher_is_better=False,
        limits=[LimitCheck("max_growth_without_gain", rule.max_parameter_growth, status, growth, breach)],
        note=f"{name} gain {gain_text} (a growth above {rule.max_parameter_growth:.0%} needs a gain of at least "
             f"{rule.min_gain:g})")
    return ([q] if q is not None else []) + [rule_metric]


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:,}" if isinstance(x, int) else f"{x:.4g}"


def _summary(metrics: list[Metric], cand: ModelCost, cfg: BudgetConfig) -> str:
    params = cand.parameters
    parts = [f"{params.total:,} parameters" if params is not None else "parameters unknown",
             f"{cand.size_mb:.3g} MB"]
    p99 = next((m for m in metrics if m.name == "row_p99_ms" and m.value is not None), None)
    if p99 is not None:
        parts.append(f"row p99 {p99.value:.3g} ms")
    breaches = _breach_texts(metrics)
    parts += breaches
    if not breaches:
        parts.append("all limits met" if cfg.has_limits() else "no limits configured (report only)")
    return ", ".join(parts)


def _breach_texts(metrics: list[Metric]) -> list[str]:
    out = []
    for status, word in ((Status.FAIL, "failing"), (Status.WARN, "warning")):
        hit = [m for m in metrics if m.status == status]
        if hit:
            out.append(f"{len(hit)} {word}: " + "; ".join(breach_text(m) for m in hit[:3]))
    return out


def breach_text(m: Metric) -> str:
    """One breached limit in words, e.g. 'parameters 69 rose 200% vs base (allowed 50%)'."""
    lim = next((c for c in m.limits if c.status != Status.PASS), None)
    if lim is None:
        return f"{m.name} {_fmt(m.value)}"
    if lim.kind == "max_growth_without_gain":
        return f"parameters {_pct(lim.observed)} vs base with {m.note}"
    if lim.kind == "max_relative_increase":
        return f"{m.name} {_fmt(m.value)} rose {_pct(lim.observed)} vs base (allowed {lim.threshold:.0%})"
    return f"{m.name} {_fmt(m.value)} > {_fmt(lim.threshold if m.name != 'parameters' else int(lim.threshold))}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.0%}"


# ---------------------------------------------------------------------------------------- run


def run(config: Any, ctx: RunContext, baseline: GateResult | None) -> GateResult:
    """Inspect the model (and the base's), time it, compute the quality metric the rule needs, evaluate."""
    cfg: BudgetConfig = config.budget
    model_path = default_model_path(config, cfg.model, "budget.model")
    trusted = list(cfg.trusted_types)
    cand_file = inspect_model(ctx.record(model_path), allow_pickle=cfg.allow_pickle, trusted=trusted)
    base_file = None
    if cfg.baseline_model:
        base_file = inspect_model(ctx.record(cfg.baseline_model), allow_pickle=cfg.allow_pickle, trusted=trusted)
    notes = [Finding("info", n, code="budget.model") for n in cand_file.notes if n]
    cand = ModelCost(model_path, cand_file.format, cand_file.size_bytes, cand_file.parameters)
    base = None if base_file is None else ModelCost(cfg.baseline_model or "", base_file.format,
                                                    base_file.size_bytes, base_file.parameters)
    setup: dict[str, Any] = {}
    if cfg.latency is not None:
        setup = _measure_latency(config, cfg, cfg.latency, ctx, cand_file, cand, base_file, base, notes)
    elif cfg.latency_judged():
        raise ConfigError("budget.latency is null but a latency or memory limit is set: give budget.latency")
    quality = _quality(config, ctx, cfg.growth_needs_gain) if cfg.growth_needs_gain else None
    if (quality is not None and _base_metric(baseline, quality.name, "quality") is None and base_file is not None
            and base_file.estimator is not None and cand_file.estimator is not None):
        # no base value in the base results (e.g. the base's first run): score both models on the same rows
        quality = _quality_on_same_rows(config, cfg, ctx, quality, cand_file, base_file) or quality
    return evaluate(BudgetFacts(cand, base, quality, machine(), setup, notes), cfg, baseline)


def _measure_latency(config: Any, cfg: BudgetConfig, lat: LatencyConfig, ctx: RunContext, cand_file: ModelFile,
                     cand: ModelCost, base_file: ModelFile | None, base: ModelCost | None,
                     notes: list[Finding]) -> dict[str, Any]:
    source = getattr(getattr(config, "predictions", None), "model", None)
    data = lat.data or (source.data if source is not None else None)
    if cand_file.estimator is None:
        if cfg.latency_judged():
            raise InputError(f"a latency or memory limit is set, but this {cand_file.format} file cannot be run "
                             "without running code from it: only scikit-learn models (.skops) are timed",
                             where=cand.path)
        return {}
    if not data:
        if cfg.latency_judged():
            raise ConfigError("budget has latency or memory limits but no rows to time: set budget.latency.data "
                              "(or predictions.model.data)")
        notes.append(Finding("info", "latency not measured: set budget.latency.data to the rows to time",
                             code="budget.latency_skipped"))
        return {}
    where = str(data)
    features = model_features(cand_file.estimator, lat.features, cand.path, "budget.latency.features")
    base_features: list[str] | None = None
    # the base model is timed only when a growth limit needs its latency or memory (timing costs CI minutes)
    if cfg.latency_growth_limited() and base_file is not None and base_file.estimator is not None:
        base_features = model_features(base_file.estimator, lat.features, str(base_file.path),
                                       "budget.latency.features")
    columns = list(dict.fromkeys(features + (base_features or [])))
    frame = read_table(ctx.record(data), None)
    missing = [c for c in columns if c not in frame.columns]
    if base_features and [c for c in missing if c in base_features and c not in features]:
        notes.append(Finding("info", f"the base model's features {', '.join(c for c in missing if c not in features)}"
                             f" are not in {where}: the base model is not timed", code="budget.base_untimed"))
        base_features = None
        missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InputError(f"columns the model needs are missing: {', '.join(missing)}", where=where)
    if frame.empty:
        raise InputError("no rows to time the model on", where=where)
    models = {"candidate": (cand_file.estimator, features, cand.path)}
    if base_features is not None and base_file is not None:
        models["base"] = (base_file.estimator, base_features, str(base_file.path))
    n_rows = min(lat.rows, len(frame))
    batch_size = min(lat.batch_size, len(frame))
    order = np.arange(lat.batches * batch_size) % len(frame)
    workloads: dict[str, Workload] = {}
    for name, (est, cols, path) in models.items():
        # the same rows for every model; each gets its own columns (the base may use other features)
        sub = frame[cols]
        workloads[name] = Workload(
            _predict_fn(est, lat.method, path),
            [model_input(est, sub.iloc[[i]]) for i in range(n_rows)],
            [model_input(est, sub.iloc[order[b * batch_size:(b + 1) * batch_size]]) for b in range(lat.batches)])
    try:
        samples = timing.measure(workloads, repeats=lat.repeats, warmup=lat.warmup)
        peaks = {name: peak_memory_bytes(w.predict, w.batches[0]) for name, w in workloads.items()}
    except Exception as exc:
        raise InputError(f"the model failed to predict while being timed: {type(exc).__name__}: {exc}",
                         where=cand.path) from exc
    cand.latency, cand.peak_memory_bytes = samples["candidate"], peaks["candidate"]
    if base is not None and "base" in samples:
        base.latency, base.peak_memory_bytes = samples["base"], peaks["base"]
    if n_rows < lat.rows or batch_size < lat.batch_size:
        notes.append(Finding("info", f"{where} has {len(frame)} rows: timed {n_rows} single rows and batches of "
                             f"{batch_size}", code="budget.latency_rows"))
    return {"data": data, "rows": n_rows, "batch_size": batch_size, "batches": lat.batches,
            "repeats": lat.repeats, "warmup": lat.warmup, "tolerance": lat.tolerance,
            "method": _method_name(cand_file.estimator, lat.method)}


def _method_name(estimator: Any, method: str) -> str:
    if method != "auto":
        return method
    return "predict_proba" if hasattr(estimator, "predict_proba") else "predict"


def _predict_fn(estimator: Any, method: str, where: str) -> Any:
    name = _method_name(estimator, method)
    fn = getattr(estimator, name, None)
    if fn is None:
        raise InputError(f"the model has no {name} method (budget.latency.method)", where=where)
    return fn


def _quality(config: Any, ctx: RunContext, rule: GrowthNeedsGain) -> QualityValue:
    """The quality gate's primary metric for this run, computed the quality gate's way."""
    from mlgate.checks.gates import quality as quality_gate

    qcfg = getattr(config, "quality", None) or quality_gate.QualityConfig()
    name = rule.metric or primary_metric(qcfg)
    if name not in quality_gate.HIGHER_IS_BETTER:
        raise ConfigError(f"budget.growth_needs_gain.metric {name!r} is not a quality metric; valid: "
                          f"{', '.join(quality_gate.HIGHER_IS_BETTER)}")
    metrics = {**(qcfg.metrics or {})}
    if name not in metrics:
        metrics[name] = MetricLimits()
    limited = qcfg.model_copy(update={"metrics": {k: MetricLimits() for k in metrics}})
    result = quality_gate.run(_with_quality(config, limited), ctx, None)
    slice_name = "holdout" if qcfg.future else "all"
    m = result.metric(name, slice_name)
    return QualityValue(name, slice_name, None if m is None else m.value, quality_gate.HIGHER_IS_BETTER[name])


def _quality_on_same_rows(config: Any, cfg: BudgetConfig, ctx: RunContext, quality: QualityValue,
                          cand_file: ModelFile, base_file: ModelFile) -> QualityValue | None:
    """The metric of both models on the same labelled rows, computed the quality gate's way; None when
    no rows with the label are configured (budget.latency.data, predictions.model.data, explain.data)
    or the task is not binary classification or regression."""
    from mlgate.checks.gates import quality as quality_gate
    from mlgate.checks.gates.classes import binarize, class_key

    pcfg = getattr(config, "predictions", None)
    label = getattr(pcfg, "label", None)
    qcfg = getattr(config, "quality", None) or quality_gate.QualityConfig()
    if not label or qcfg.task not in ("classification", "regression"):
        return None
    sources = [cfg.latency.data if cfg.latency is not None else None,
               getattr(getattr(pcfg, "model", None), "data", None),
               getattr(getattr(config, "explain", None), "data", None)]
    for data in dict.fromkeys(d for d in sources if d):
        frame = read_table(ctx.record(data), None)
        if label not in frame.columns:
            continue
        frame = frame[frame[label].notna()]
        models = [(cand_file.estimator, cand_file.path), (base_file.estimator, base_file.path)]
        columns = [model_features(est, None, str(path), "budget.model") for est, path in models]
        if frame.empty or any(c not in frame.columns for cols in columns for c in cols):
            continue
        values = []
        for (est, path), cols in zip(models, columns, strict=True):
            x = model_input(est, frame[cols])
            try:
                if qcfg.task == "regression":
                    y = frame[label].to_numpy(dtype=float)
                    scores = quality_gate._regression_scores(y, np.asarray(est.predict(x), dtype=float), None,
                                                             [quality.name])
                else:
                    positive = getattr(pcfg, "positive_label", 1)
                    y = binarize(frame[label], positive, what="label", where=data)
                    classes = [class_key(c) for c in getattr(est, "classes_", [])]
                    if class_key(positive) not in classes:
                        return None
                    score = (np.asarray(est.predict_proba(x))[:, classes.index(class_key(positive))]
                             if hasattr(est, "predict_proba") else None)
                    y_hat = np.array([class_key(v) == class_key(positive) for v in est.predict(x)], dtype=np.int8)
                    scores = quality_gate._classification_scores(y, y_hat, score, [quality.name])
            except Exception as exc:
                raise InputError(f"the model failed to predict the rows for growth_needs_gain: "
                                 f"{type(exc).__name__}: {exc}", where=str(path)) from exc
            values.append(scores.values.get(quality.name))
        return QualityValue(quality.name, "same rows", values[0], quality.higher_is_better, base_value=values[1],
                            note=f"{quality.name} of this model and of the base model on the same {len(frame):,} "
                                 f"labelled rows of {data}, both scored in this run (the base results hold no "
                                 f"{quality.name}), for the growth rule")
    return None


def _with_quality(config: Any, qcfg: Any) -> Any:
    if hasattr(config, "model_copy"):
        return config.model_copy(update={"quality": qcfg})
    from types import SimpleNamespace

    return SimpleNamespace(**{**vars(config), "quality": qcfg})


def primary_metric(qcfg: Any) -> str:
    """The quality gate's headline: the first configured metric, else the task's usual one."""
    if qcfg.metrics:
        return next(iter(qcfg.metrics))
    return {"classification": "roc_auc", "regression": "r2", "multiclass": "balanced_accuracy"}[qcfg.task]
