"""The quality gate: metric values against scikit-learn, limits, baseline, future slice, bad input."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn import metrics as skm

from mlgate.checks.config.predictions import PredictionsConfig
from mlgate.checks.config.quality import QualityConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.quality import evaluate, run
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.results import GateResult, Metric, Status

PRED = PredictionsConfig(label="y", prediction="yhat", score="p")


def _frame(n: int = 4000, seed: int = 0, decimals: int = 2) -> pd.DataFrame:
    """Noisy scores with many ties (rounded), so the tie handling of roc_auc/AP is exercised."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.0, 1.0), decimals)
    return pd.DataFrame({"y": y, "p": p, "yhat": (p >= 0.5).astype(int)})


def _sk_classification(y: np.ndarray, yhat: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": skm.accuracy_score(y, yhat),
        "precision": skm.precision_score(y, yhat),
        "recall": skm.recall_score(y, yhat),
        "f1": skm.f1_score(y, yhat),
        "roc_auc": skm.roc_auc_score(y, p),
        "average_precision": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
    }


def _values(result: GateResult, slice_name: str = "all") -> dict[str, float | None]:
    return {m.name: m.value for m in result.metrics if m.slice == slice_name}


@pytest.mark.parametrize("seed,decimals", [(0, 2), (1, 6), (2, 1)])
def test_classification_metrics_equal_sklearn(seed: int, decimals: int) -> None:
    df = _frame(seed=seed, decimals=decimals)
    result = evaluate(df, PRED, QualityConfig(), None)
    expected = _sk_classification(df.y.to_numpy(), df.yhat.to_numpy(), df.p.to_numpy())
    got = _values(result)
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name
    assert result.status == Status.WARN  # nothing configured: reported, and it says it cannot block
    assert "no limits configured" in result.summary
    assert any(f.code == "quality.unjudged" for f in result.findings)


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, 2000)
    df = pd.DataFrame({"y": y, "yhat": y + rng.normal(0.5, 1.5, 2000)})
    cfg = QualityConfig(task="regression", metrics={"mae": {"max": 5}, "rmse": {}, "r2": {"min": 0.5}})
    result = evaluate(df, PredictionsConfig(label="y", prediction="yhat"), cfg, None)
    got = _values(result)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(df.y, df.yhat), abs=1e-9)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(df.y, df.yhat)), abs=1e-9)
    assert got["r2"] == pytest.approx(skm.r2_score(df.y, df.yhat), abs=1e-9)
    assert result.status == Status.PASS
    assert result.metric("mae").higher_is_better is False


def test_class_from_score_and_threshold_when_no_prediction_column() -> None:
    df = _frame()
    pcfg = PredictionsConfig(label="y", score="p", threshold=0.42)
    result = evaluate(df, pcfg, QualityConfig(metrics={"accuracy": {}, "recall": {}}), None)
    yhat = (df.p >= 0.42).astype(int)
    assert result.metric("accuracy").value == pytest.approx(skm.accuracy_score(df.y, yhat), abs=1e-12)
    assert result.metric("recall").value == pytest.approx(skm.recall_score(df.y, yhat), abs=1e-12)


def test_pass_warn_fail_paths() -> None:
    df = _frame()
    recall = skm.recall_score(df.y, df.yhat)
    auc = skm.roc_auc_score(df.y, df.p)

    ok = evaluate(df, PRED, QualityConfig(metrics={"recall": {"min": recall - 0.01}}), None)
    assert ok.status == Status.PASS and "all limits met" in ok.summary

    warn = evaluate(df, PRED, QualityConfig(metrics={"recall": {"min": recall + 0.01, "severity": "warn"}}), None)
    assert warn.status == Status.WARN
    assert warn.metric("recall").limits[0].severity == Status.WARN
    assert f"recall {recall:.3g} < {recall + 0.01:.4g}" in warn.summary

    fail = evaluate(df, PRED, QualityConfig(metrics={"roc_auc": {"min": 0.5}, "recall": {"min": 0.99}}), None)
    assert fail.status == Status.FAIL
    assert fail.metric("roc_auc").status == Status.PASS
    assert fail.metric("recall").status == Status.FAIL
    assert fail.summary.startswith(f"roc_auc {auc:.3g}")
    assert f"1 metric failing: recall {recall:.3g} < 0.99" in fail.summary

    loss = evaluate(df, PRED, QualityConfig(metrics={"log_loss": {"max": 0.1}}), None)
    assert loss.status == Status.FAIL  # lower is better: a ceiling
    assert loss.metric("log_loss").value == pytest.approx(skm.log_loss(df.y, df.p), abs=1e-9)


def _baseline(**values: float) -> GateResult:
    return GateResult(gate="quality", status=Status.PASS, summary="",
                      metrics=[Metric(name=k, value=v) for k, v in values.items()])


def test_baseline_regression() -> None:
    df = _frame()
    auc = skm.roc_auc_score(df.y, df.p)
    ll = skm.log_loss(df.y, df.p)
    cfg = QualityConfig(metrics={"roc_auc": {"max_drop": 0.02}, "log_loss": {"max_relative_drop": 0.05}})

    same = evaluate(df, PRED, cfg, _baseline(roc_auc=auc + 0.01, log_loss=ll))
    assert same.status == Status.PASS and same.baseline_used
    assert same.metric("roc_auc").delta == pytest.approx(-0.01, abs=1e-12)
    assert "−0.01 vs base" in same.summary

    worse = evaluate(df, PRED, cfg, _baseline(roc_auc=auc + 0.03, log_loss=ll / 1.1))
    assert worse.status == Status.FAIL
    drop = worse.metric("roc_auc").limits[0]
    assert drop.kind == "max_drop" and drop.observed == pytest.approx(0.03, abs=1e-12)
    rise = worse.metric("log_loss").limits[0]
    assert rise.kind == "max_relative_increase" and rise.observed == pytest.approx(0.1, abs=1e-9)

    alone = evaluate(df, PRED, cfg, None)  # only drop limits and no baseline: nothing judged, not green
    assert alone.status == Status.WARN and not alone.baseline_used
    assert "no baseline" in alone.metric("roc_auc").note
    assert "no baseline" in alone.summary and "nothing judged" in alone.summary
    assert any(f.code == "quality.nothing_judged" and f.severity == "warn" for f in alone.findings)

    mixed = QualityConfig(metrics={"roc_auc": {"min": 0.5, "max_drop": 0.02}})
    assert evaluate(df, PRED, mixed, None).status == Status.PASS  # the floor was judged


def test_unknown_metric_name_is_a_config_error() -> None:
    with pytest.raises(ValidationError) as err:
        QualityConfig(metrics={"auc": {"min": 0.8}})
    assert "'auc'" in str(err.value) and "roc_auc" in str(err.value)
    with pytest.raises(ValidationError, match="regression metric"):
        QualityConfig(metrics={"mae": {}})
    with pytest.raises(ValidationError, match=r"future\.max_gap"):
        QualityConfig(future={"cutoff": 2001, "max_gap": {"aucc": 0.1}})
    with pytest.raises(ValidationError, match="extra"):
        QualityConfig(metrics={"roc_auc": {"minimum": 0.8}})
    assert list(QualityConfig(metrics=["roc_auc", "f1"]).metrics) == ["roc_auc", "f1"]


def test_unknown_metric_name_in_yaml_names_key_path_and_line() -> None:
    from mlgate.checks.config.models import parse_config

    text = "quality:\n  task: classification\n  metrics:\n    roc_auc: {min: 0.7}\n    aucpr: {min: 0.5}\n"
    with pytest.raises(ConfigError, match=r"quality\.metrics \(line 3\): unknown classification metric 'aucpr'"):
        parse_config(text)


def test_single_class_labels() -> None:
    df = _frame()
    df["y"] = 1
    reported = evaluate(df, PRED, QualityConfig(metrics={"roc_auc": {}, "accuracy": {}}), None)
    assert reported.metric("roc_auc").value is None
    assert reported.metric("accuracy").value == pytest.approx((df.yhat == 1).mean(), abs=1e-12)
    assert reported.status == Status.WARN  # metrics listed without limits: reported, cannot block
    assert any("single class" in f.message and "roc_auc" in f.message for f in reported.findings)

    judged = evaluate(df, PRED, QualityConfig(metrics={"average_precision": {"min": 0.5}}), None)
    assert judged.metric("average_precision").value is None
    assert judged.status == Status.FAIL


def test_nan_labels_are_an_input_error() -> None:
    df = _frame()
    df["y"] = df.y.astype(float)
    df.loc[[3, 7], "y"] = np.nan
    with pytest.raises(InputError, match="2 missing values"):
        evaluate(df, PRED, QualityConfig(), None)


def test_scores_outside_unit_interval() -> None:
    df = _frame()
    df.loc[0, "p"] = 1.7
    with pytest.raises(InputError, match=r"'p' has 1 values outside \[0, 1\].*log_loss"):
        evaluate(df, PRED, QualityConfig(metrics={"log_loss": {}}), None)
    # a ranking metric is fine with any score; defaults leave the probability metrics out
    result = evaluate(df, PRED, QualityConfig(), None)
    assert "log_loss" not in _values(result)
    assert result.metric("roc_auc").value == pytest.approx(skm.roc_auc_score(df.y, df.p), abs=1e-9)


def test_score_metric_without_score_column() -> None:
    with pytest.raises(InputError, match="roc_auc needs a score column"):
        evaluate(_frame(), PredictionsConfig(label="y", prediction="yhat"), QualityConfig(metrics=["roc_auc"]), None)


def _future_frame() -> pd.DataFrame:
    df = _frame(n=3000, seed=5)
    df["year"] = np.repeat([1997, 1998, 1999, 2000, 2001, 2002], 500)
    # the model is worse on later years: flip some later predictions
    late = df.year > 2000
    flip = late & (np.arange(len(df)) % 4 == 0)
    df.loc[flip, "yhat"] = 1 - df.loc[flip, "yhat"]
    return df


def test_future_slice_with_numeric_cutoff() -> None:
    df = _future_frame()
    pcfg = PredictionsConfig(label="y", prediction="yhat", score="p", timestamp="year")
    cfg = QualityConfig(
        metrics={"accuracy": {"min": 0.5}},
        future={"cutoff": 2000, "metrics": {"accuracy": {"min": 0.7}}, "max_gap": {"accuracy": 0.05}},
    )
    result = evaluate(df, pcfg, cfg, None)
    old, new = df[df.year <= 2000], df[df.year > 2000]
    acc_old = skm.accuracy_score(old.y, old.yhat)
    acc_new = skm.accuracy_score(new.y, new.yhat)
    assert result.metric("accuracy", "holdout").value == pytest.approx(acc_old, abs=1e-12)
    assert result.metric("accuracy", "future").value == pytest.approx(acc_new, abs=1e-12)
    gap = result.metric("accuracy", "gap")
    assert gap.value == pytest.approx(acc_old - acc_new, abs=1e-12)
    assert acc_old - acc_new > 0.05
    assert gap.status == Status.FAIL
    assert result.status == Status.FAIL
    assert result.details["slices"] == {"holdout": 2000, "future": 1000}


def test_future_slice_with_dates_and_empty_future() -> None:
    df = _future_frame()
    df["when"] = pd.to_datetime(df.year.astype(str) + "-06-30")
    pcfg = PredictionsConfig(label="y", prediction="yhat", score="p", timestamp="when")
    cfg = QualityConfig(metrics=["roc_auc"], future={"cutoff": "2001-01-01", "max_gap": {"roc_auc": 0.5}})
    result = evaluate(df, pcfg, cfg, None)
    new = df[df.year > 2000]
    assert result.metric("roc_auc", "future").value == pytest.approx(skm.roc_auc_score(new.y, new.p), abs=1e-9)
    assert result.metric("roc_auc", "gap").status == Status.PASS

    empty = evaluate(df, pcfg, QualityConfig(metrics=["roc_auc"], future={"cutoff": "2030-01-01"}), None)
    assert empty.metric("roc_auc", "future") is None
    assert any(f.code == "quality.empty_future" for f in empty.findings)
    assert empty.status == Status.WARN

    with pytest.raises(InputError, match=r"holds numbers but quality\.future\.cutoff is a date"):
        evaluate(df, pcfg.model_copy(update={"timestamp": "year"}), cfg, None)


def test_run_reads_the_file(tmp_path) -> None:
    df = _frame()
    df["unused"] = "x"
    df.to_parquet(tmp_path / "preds.parquet")
    config = SimpleNamespace(
        predictions=PredictionsConfig(path="preds.parquet", label="y", prediction="yhat", score="p"),
        quality=QualityConfig(metrics={"f1": {"min": 0.1}}),
    )
    ctx = RunContext(base_dir=tmp_path)
    result = run(config, ctx, None)
    assert result.gate == "quality" and result.status == Status.PASS
    assert result.metric("f1").value == pytest.approx(skm.f1_score(df.y, df.yhat), abs=1e-12)
    assert "preds.parquet" in ctx.files

    future_without_timestamp = SimpleNamespace(
        predictions=config.predictions, quality=QualityConfig(future={"cutoff": 1}))
    with pytest.raises(ConfigError, match=r"predictions\.timestamp"):
        run(future_without_timestamp, ctx, None)
