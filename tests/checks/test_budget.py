"""The budget gate: judging with fixed measurements (a fake clock, never this machine's speed), the
growth-needs-gain rule, the base commit's model, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from pydantic import ValidationError
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates import budget
from mlgate.checks.gates.budget import BudgetConfig, BudgetFacts, ModelCost, QualityValue, evaluate, judge_latency
from mlgate.checks.gates.latency import LatencySample, Spread, Workload, measure, peak_memory_bytes
from mlgate.checks.gates.parameters import ParameterCount, ParameterPart
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import GateResult, Metric, Status

CPU = {"cpu": "Test CPU 3000", "cores": 2}


def _params(total: int, zeros: int = 0) -> ParameterCount:
    return ParameterCount([ParameterPart("model", "LogisticRegression", "coef_", total, zeros)])


def _latency(per_repeat_ms: list[float], calls: int = 10) -> LatencySample:
    """Every call of a repeat took that repeat's time: p50 = p99 = it."""
    return LatencySample(row_ms=[[t] * calls for t in per_repeat_ms], batch_ms=[[t * 10] * 3 for t in per_repeat_ms])


def _cost(params: int | None = 100, size: int = 2 * 1024 * 1024, latency: list[float] | None = None,
          peak: int | None = None) -> ModelCost:
    return ModelCost("m.skops", "skops", size, None if params is None else _params(params),
                     None if latency is None else _latency(latency), peak)


def _facts(cand: ModelCost, base: ModelCost | None = None, quality: float | None = None) -> BudgetFacts:
    q = None if quality is None else QualityValue("roc_auc", "all", quality, True)
    return BudgetFacts(cand, base, q, dict(CPU), {"repeats": 3})


def _base_result(**values: float) -> GateResult:
    slices = {"parameters": "model", "size_mb": "model", "row_p99_ms": "latency", "roc_auc": "quality"}
    return GateResult("budget", Status.PASS, "", metrics=[Metric(k, v, slice=slices[k]) for k, v in values.items()],
                      details={"machine": dict(CPU)})


# ------------------------------------------------------------------------------------- measurement


def test_measure_times_each_call_with_the_given_clock_after_untimed_warmup() -> None:
    ticks = iter(range(0, 10**9, 1_000_000))  # every clock read is 1 ms after the previous one
    calls: list[object] = []
    sample = measure({"m": Workload(calls.append, ["r1", "r2"], ["b1"])}, repeats=3, warmup=2,
                     clock=lambda: next(ticks))["m"]
    assert calls[:4] == ["r1", "b1", "r2", "b1"]  # warm-up: rows and batches alternately, untimed
    assert len(calls) == 4 + 3 * 3
    assert sample.row_ms == [[1.0, 1.0]] * 3 and sample.batch_ms == [[1.0]] * 3
    assert sample.spread("row", 99) == Spread(1.0, 1.0, 1.0, 3)


def test_models_are_interleaved_repeat_by_repeat() -> None:
    order: list[str] = []
    measure({"a": Workload(lambda x: order.append(f"a{x}"), [1], []),
             "b": Workload(lambda x: order.append(f"b{x}"), [1], [])}, repeats=2, warmup=0)
    assert order == ["a1", "b1", "a1", "b1"]


def test_spread_is_the_median_lowest_and_highest_repeat() -> None:
    s = LatencySample(row_ms=[[1, 2, 3, 4], [5, 5, 5, 5], [1, 1, 1, 100]])
    p50 = s.spread("row", 50)
    assert p50 == Spread(median=2.5, low=1.0, high=5.0, repeats=3)
    assert s.spread("row", 99).high == pytest.approx(np.percentile([1, 1, 1, 100], 99))
    assert s.spread("batch", 99) is None


def test_peak_memory_sees_a_batch_allocation() -> None:
    peak = peak_memory_bytes(lambda n: np.ones(n, dtype=np.float64).sum(), 1_000_000)
    assert 8_000_000 <= peak < 16_000_000


# ------------------------------------------------------------------------------------- judging


@pytest.mark.parametrize("median, status", [(9.0, Status.PASS), (10.0, Status.PASS), (11.5, Status.WARN),
                                            (12.0, Status.WARN), (12.5, Status.FAIL)])
def test_latency_limit_warns_within_the_tolerance_and_fails_beyond(median: float, status: Status) -> None:
    m = judge_latency("row_p99_ms", Spread(median, median * 0.9, median * 1.1, 5), 10.0, 0.2, "fail")
    assert m.status == status and m.value == median
    assert "median of 5 repeats" in m.note and "+20% tolerance" in m.note


def test_one_slow_repeat_never_fails_the_gate() -> None:
    cfg = BudgetConfig(max_p99_ms=10)
    result = evaluate(_facts(_cost(latency=[5, 5, 500])), cfg, None)
    p99 = result.metric("row_p99_ms", "latency")
    assert p99.value == 5 and p99.status == Status.PASS
    assert result.status == Status.PASS
    assert result.details["latency"]["row_p99_ms"]["high"] == 500  # the spread is reported
    assert any(f.code == "budget.latency_unstable" for f in result.findings)


def test_two_slow_repeats_of_three_fail() -> None:
    result = evaluate(_facts(_cost(latency=[5, 500, 500])), BudgetConfig(max_p99_ms=10), None)
    assert result.metric("row_p99_ms", "latency").status == Status.FAIL
    assert result.status == Status.FAIL and "row_p99_ms 500 > 10" in result.summary


def test_absolute_limits_pass_and_fail() -> None:
    cfg = BudgetConfig(max_size_mb=3, max_parameters=150)
    assert evaluate(_facts(_cost(params=100)), cfg, None).status == Status.PASS
    failed = evaluate(_facts(_cost(params=151)), cfg, None)
    assert failed.status == Status.FAIL and failed.metric("parameters", "model").status == Status.FAIL
    assert "parameters 151 > 150" in failed.summary


def test_severity_warn_turns_breaches_into_warnings() -> None:
    result = evaluate(_facts(_cost(params=151)), BudgetConfig(max_parameters=150, severity="warn"), None)
    assert result.status == Status.WARN


def test_relative_growth_against_the_base_results() -> None:
    cfg = BudgetConfig(max_relative_growth=0.5)
    base = _base_result(parameters=100, size_mb=2.0)
    ok = evaluate(_facts(_cost(params=150)), cfg, base)
    assert ok.status == Status.PASS and ok.metric("parameters", "model").baseline == 100
    grown = evaluate(_facts(_cost(params=151)), cfg, base)
    assert grown.status == Status.FAIL and "rel. rise" in grown.metric("parameters", "model").limit_text


def test_the_base_model_measured_in_this_run_wins_over_the_base_results() -> None:
    cfg = BudgetConfig(max_relative_growth={"parameters": 0.5})
    result = evaluate(_facts(_cost(params=151), base=_cost(params=150)), cfg, _base_result(parameters=10))
    m = result.metric("parameters", "model")
    assert m.baseline == 150 and m.status == Status.PASS and "measured in this run" in m.note


def test_latency_is_compared_with_base_results_only_from_the_same_cpu() -> None:
    cfg = BudgetConfig(max_relative_growth={"row_p99_ms": 0.5})
    same = _base_result(row_p99_ms=4.0)
    assert evaluate(_facts(_cost(latency=[10, 10, 10])), cfg, same).metric("row_p99_ms", "latency").status \
        == Status.FAIL
    other = _base_result(row_p99_ms=4.0)
    other.details["machine"] = {"cpu": "Another CPU", "cores": 64}
    m = evaluate(_facts(_cost(latency=[10, 10, 10])), cfg, other).metric("row_p99_ms", "latency")
    assert m.status == Status.PASS and m.baseline is None and "Another CPU" in m.note


@pytest.mark.parametrize("params, quality, status", [
    (300, 0.801, Status.FAIL),  # three times the parameters for +0.001
    (300, 0.82, Status.PASS),  # three times the parameters, and +0.02 bought
    (140, 0.80, Status.PASS),  # +40 %: within the growth allowed without gain
])
def test_growth_needs_gain(params: int, quality: float, status: Status) -> None:
    cfg = BudgetConfig(growth_needs_gain={"max_parameter_growth": 0.5, "min_gain": 0.005})
    result = evaluate(_facts(_cost(params=params), quality=quality), cfg, _base_result(parameters=100, roc_auc=0.8))
    rule = result.metric("parameter_growth", "model")
    assert rule.status == status and result.status == status
    assert rule.value == pytest.approx(params / 100 - 1)
    assert result.metric("roc_auc", "quality").baseline == 0.8
    if status == Status.FAIL:
        assert "parameters +200% vs base with roc_auc gain +0.001" in result.summary


def test_growth_rule_without_a_base_quality_value_warns_that_it_cannot_judge() -> None:
    cfg = BudgetConfig(growth_needs_gain={"max_parameter_growth": 0.5, "min_gain": 0.005})
    result = evaluate(_facts(_cost(params=300), quality=0.8), cfg, _base_result(parameters=100))
    assert result.status == Status.WARN
    assert any(f.code == "budget.growth_unjudged" for f in result.findings)


def test_unknown_parameters_with_a_limit_warn_instead_of_passing() -> None:
    result = evaluate(_facts(ModelCost("m.onnx", "onnx", 10, None)), BudgetConfig(max_parameters=5), None)
    assert result.status == Status.WARN and "parameters unknown" in result.summary


def test_without_limits_the_gate_says_it_cannot_block() -> None:
    result = evaluate(_facts(_cost()), BudgetConfig(), None)
    assert result.status == Status.WARN and any(f.code == "budget.unjudged" for f in result.findings)
    json.dumps(result.to_dict(), allow_nan=False)


# ------------------------------------------------------------------------------------- run


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("budget")
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    features = [c for c in frame.columns if c != "target"][:5]
    small = LogisticRegression(max_iter=5000).fit(frame[features], frame["target"])
    big = LogisticRegression(max_iter=5000).fit(frame[[c for c in frame.columns if c != "target"]], frame["target"])
    sio.dump(small, root / "base.skops")
    sio.dump(big, root / "big.skops")
    sio.dump(small, root / "same.skops")
    frame.head(300).to_parquet(root / "rows.parquet", index=False)
    preds = pd.DataFrame({"y": frame["target"], "p": small.predict_proba(frame[features])[:, 1]})
    preds.to_parquet(root / "preds.parquet", index=False)
    return root


def _config(section: dict, **top: object) -> MlgateConfig:
    return MlgateConfig.model_validate({"budget": section, **top})


def _run(project: Path, section: dict, baseline: GateResult | None = None, **top: object) -> GateResult:
    return budget.run(_config(section, **top), RunContext(base_dir=project), baseline)


LATENCY = {"data": "rows.parquet", "rows": 5, "batches": 2, "batch_size": 50, "repeats": 3, "warmup": 1}


def test_run_counts_times_and_compares_with_the_base_model(project: Path) -> None:
    result = _run(project, {"model": "same.skops", "baseline_model": "base.skops", "max_parameters": 100,
                            "latency": LATENCY})
    assert result.status == Status.PASS
    assert result.metric("parameters", "model").value == 6 and result.metric("parameters", "model").baseline == 6
    p99 = result.metric("row_p99_ms", "latency")
    assert p99.value > 0 and p99.baseline is None  # the base is timed only when a growth limit needs it
    lat = result.details["latency"]
    assert lat["row_p99_ms"]["repeats"] == 3 and lat["rows"] == 5 and lat["method"] == "predict_proba"
    assert result.details["machine"]["cpu"] and result.details["machine"]["cores"]
    json.dumps(result.to_dict(), allow_nan=False)


def test_run_times_the_base_model_when_latency_growth_is_limited(project: Path) -> None:
    result = _run(project, {"model": "big.skops", "baseline_model": "base.skops",
                            "max_relative_growth": {"batch_p50_ms": 100.0}, "latency": LATENCY})
    m = result.metric("batch_p50_ms", "latency")
    assert m.baseline is not None and "interleaved" in m.note
    assert result.details["base_model"]["latency"]["repeats"] == 3


def test_run_blocks_a_bigger_model_that_buys_nothing(project: Path) -> None:
    section = {"model": "big.skops", "baseline_model": "base.skops", "latency": None,
               "growth_needs_gain": {"max_parameter_growth": 0.5, "min_gain": 0.01}}
    top = {"predictions": {"path": "preds.parquet", "label": "y", "score": "p"}, "quality": {"metrics": ["roc_auc"]}}
    base = _base_result(parameters=6, roc_auc=0.99)
    result = _run(project, section, base, **top)
    assert result.metric("parameters", "model").value == 31
    quality = result.metric("roc_auc", "quality")
    from sklearn.metrics import roc_auc_score

    preds = pd.read_parquet(project / "preds.parquet")
    assert quality.value == pytest.approx(roc_auc_score(preds["y"], preds["p"]), abs=1e-12)
    assert result.status == Status.FAIL and result.metric("parameter_growth", "model").status == Status.FAIL


def test_missing_model_is_an_input_error(project: Path) -> None:
    with pytest.raises(InputError, match="model file not found"):
        _run(project, {"model": "nope.skops", "latency": None})


def test_latency_rows_without_the_model_features_are_an_input_error(project: Path) -> None:
    pd.DataFrame({"x": [1, 2]}).to_parquet(project / "wrong.parquet")
    with pytest.raises(InputError, match="columns the model needs are missing"):
        _run(project, {"model": "same.skops", "latency": {**LATENCY, "data": "wrong.parquet"}})


def test_latency_limit_on_a_file_that_cannot_be_run_is_an_input_error(project: Path) -> None:
    np.savez(project / "w.npz", w=np.ones(3))
    with pytest.raises(InputError, match="cannot be run"):
        _run(project, {"model": "w.npz", "max_p99_ms": 5, "latency": LATENCY})


def test_latency_limit_without_rows_is_a_config_error(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"budget\.latency\.data"):
        _run(project, {"model": "same.skops", "max_p99_ms": 5})
    with pytest.raises(ConfigError, match=r"budget\.latency is null"):
        _run(project, {"model": "same.skops", "max_p99_ms": 5, "latency": None})


@pytest.mark.parametrize("section, problem", [
    ({"latency": {"repeats": 2}}, "greater than or equal to 3"),
    ({"max_relative_growth": {"latency": 0.1}}, "unknown measure 'latency'"),
    ({"max_relative_growth": -1}, "must be >= 0"),
    ({"max_parameters": "many"}, "valid integer"),
])
def test_bad_config_values_are_refused(section: dict, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        BudgetConfig.model_validate(section)


def test_a_number_for_max_relative_growth_means_size_and_parameters() -> None:
    assert BudgetConfig(max_relative_growth=0.2).max_relative_growth == {"size_mb": 0.2, "parameters": 0.2}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlgate", "check", "budget", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_cli_pass_fail_and_bad_input(project: Path) -> None:
    ok = _cli("--model", "same.skops", "--json", "ok.json", cwd=project)
    assert ok.returncode == 0, ok.stderr  # no limits: a warning, which passes
    assert json.loads((project / "ok.json").read_text())["gates"][0]["status"] == "warn"
    (project / "cfg.yml").write_text("budget: {model: big.skops, max_parameters: 10, latency: null}\n")
    failed = _cli("--config", "cfg.yml", "--json", "fail.json", cwd=project)
    assert failed.returncode == 1 and "parameters 31 > 10" in failed.stderr
    bad = _cli("--model", "nope.skops", cwd=project)
    assert bad.returncode == 2
    last = bad.stderr.strip().splitlines()[-1]
    assert last.startswith("mlgate: error: budget: ") and last.endswith("nope.skops: model file not found")
    assert "Traceback" not in bad.stderr


def test_the_gate_reads_its_model_from_artifacts_model_by_default(project: Path) -> None:
    cfg = SimpleNamespace(budget=BudgetConfig(latency=None), artifacts=SimpleNamespace(model="big.skops"))
    assert budget.run(cfg, RunContext(base_dir=project), None).metric("parameters", "model").value == 31


def test_without_a_base_quality_value_both_models_are_scored_on_the_same_labelled_rows(project: Path) -> None:
    """The first run on a base without budget results: the rule still judges, from the base model itself."""
    from sklearn.metrics import roc_auc_score

    section = {"model": "big.skops", "baseline_model": "base.skops",
               "latency": {**LATENCY, "data": "labelled.parquet"},
               "growth_needs_gain": {"max_parameter_growth": 0.5, "min_gain": 0.5}}
    rows = pd.read_parquet(project / "rows.parquet").rename(columns={"target": "y"})
    rows.to_parquet(project / "labelled.parquet", index=False)
    top = {"predictions": {"path": "preds.parquet", "label": "y", "score": "p"}, "quality": {"metrics": ["roc_auc"]}}
    result = _run(project, section, None, **top)
    quality = result.metric("roc_auc", "quality")
    big, base = (sio.load(project / f, trusted=sio.get_untrusted_types(file=project / f))
                 for f in ("big.skops", "base.skops"))
    expect_big = roc_auc_score(rows["y"], big.predict_proba(rows[list(big.feature_names_in_)])[:, 1])
    expect_base = roc_auc_score(rows["y"], base.predict_proba(rows[list(base.feature_names_in_)])[:, 1])
    assert quality.value == pytest.approx(expect_big, abs=1e-12)
    assert quality.baseline == pytest.approx(expect_base, abs=1e-12)
    assert "same" in quality.note and "labelled.parquet" in quality.note
    rule = result.metric("parameter_growth", "model")
    assert rule.status == Status.FAIL  # 31 parameters for 6, and no gain of 0.5 in roc_auc


def test_without_labelled_rows_the_rule_still_says_it_cannot_judge(project: Path) -> None:
    section = {"model": "big.skops", "baseline_model": "base.skops", "latency": LATENCY,
               "growth_needs_gain": {"max_parameter_growth": 0.5, "min_gain": 0.5}}
    top = {"predictions": {"path": "preds.parquet", "label": "y", "score": "p"}, "quality": {"metrics": ["roc_auc"]}}
    result = _run(project, section, None, **top)
    assert result.metric("parameter_growth", "model").status == Status.WARN
    assert any(f.code == "budget.growth_unjudged" for f in result.findings)
