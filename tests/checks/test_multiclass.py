"""quality.task: multiclass: accuracy, balanced accuracy and macro/weighted precision, recall and f1,
equal to scikit-learn's (zero_division=0, its default value) on every slice; bad input refused."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlgate.checks.config.models import parse_config
from mlgate.checks.config.predictions import PredictionsConfig
from mlgate.checks.config.quality import MULTICLASS_METRICS, QualityConfig
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.quality import evaluate
from mlgate.checks.results import Status

PRED = PredictionsConfig(label="y", prediction="yhat")


def _frame(n: int = 3000, seed: int = 0, labels: tuple = ("cat", "dog", "eel", "fox", "gnu")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.choice(labels, n, p=np.linspace(1, 3, len(labels)) / np.linspace(1, 3, len(labels)).sum())
    wrong = rng.random(n) < 0.35
    yhat = np.where(wrong, rng.choice(labels, n), y)
    return pd.DataFrame({"y": y, "yhat": yhat, "year": rng.integers(1997, 2003, n)})


def _sklearn(y, yhat) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ill-defined precision/recall: 0.0, as zero_division="warn" gives
        out = {"accuracy": skm.accuracy_score(y, yhat), "balanced_accuracy": skm.balanced_accuracy_score(y, yhat)}
        for avg in ("macro", "weighted"):
            out[f"precision_{avg}"] = skm.precision_score(y, yhat, average=avg, zero_division=0)
            out[f"recall_{avg}"] = skm.recall_score(y, yhat, average=avg, zero_division=0)
            out[f"f1_{avg}"] = skm.f1_score(y, yhat, average=avg, zero_division=0)
    return out


def _values(result, slice_name: str = "all") -> dict[str, float | None]:
    return {m.name: m.value for m in result.metrics if m.slice == slice_name}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_sklearn(seed: int) -> None:
    df = _frame(seed=seed)
    result = evaluate(df, PRED, QualityConfig(task="multiclass"), None)
    expected = _sklearn(df.y, df.yhat)
    got = _values(result)
    assert set(got) == set(expected) == set(MULTICLASS_METRICS)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    assert result.status == Status.WARN  # nothing configured: reported, cannot block
    per_class = result.details["classes"]
    assert [c["class"] for c in per_class] == ["cat", "dog", "eel", "fox", "gnu"]
    assert sum(c["support"] for c in per_class) == len(df)


def test_a_class_never_predicted_and_a_class_never_labelled_agree_with_sklearn() -> None:
    df = _frame(seed=4, labels=(0, 1, 2, 3))
    df.loc[df.yhat == 3, "yhat"] = 0  # 3 is never predicted: its precision is undefined (0.0)
    df.loc[:40, "yhat"] = 9  # 9 is never a label: its recall is undefined (0.0), balanced accuracy skips it
    result = evaluate(df, PRED, QualityConfig(task="multiclass"), None)
    for name, value in _sklearn(df.y, df.yhat).items():
        assert _values(result)[name] == pytest.approx(value, abs=1e-12), name
    notes = " ".join(f.message for f in result.findings)
    assert "never predicted: 3" in notes and "never in the labels: 9" in notes


def test_limits_baseline_and_future_slices() -> None:
    df = _frame(seed=5)
    cfg = QualityConfig(task="multiclass", metrics={"f1_macro": {"min": 0.99}, "accuracy": {"min": 0.5}},
                        future={"cutoff": 2000, "metrics": {"f1_weighted": {"min": 0.5}},
                                "max_gap": {"accuracy": 0.5}})
    result = evaluate(df, PredictionsConfig(label="y", prediction="yhat", timestamp="year"), cfg, None)
    assert result.metric("f1_macro", "holdout").status == Status.FAIL
    assert result.metric("accuracy", "holdout").status == Status.PASS
    future = df[df.year > 2000]
    expected = skm.f1_score(future.y, future.yhat, average="weighted", zero_division=0)
    assert result.metric("f1_weighted", "future").value == pytest.approx(expected, abs=1e-12)
    assert result.metric("accuracy", "gap") is not None
    assert result.status == Status.FAIL


def test_config_names_and_yaml() -> None:
    with pytest.raises(ValueError, match=r"unknown multiclass metric 'roc_auc'"):
        QualityConfig(task="multiclass", metrics=["roc_auc"])
    with pytest.raises(ValueError, match=r"f1_macro is a multiclass metric: set task: multiclass"):
        QualityConfig(metrics=["f1_macro"])
    cfg = parse_config("version: 1\nquality:\n  task: multiclass\n  metrics: {f1_macro: {min: 0.6}}\n")
    assert cfg.quality.task == "multiclass"
    with pytest.raises(ConfigError, match=r"quality\.metrics"):
        parse_config("version: 1\nquality:\n  task: multiclass\n  metrics: {log_loss: {max: 1}}\n")


def test_bad_input_is_refused() -> None:
    df = _frame()
    with pytest.raises(InputError, match="multiclass metrics need predicted classes"):
        evaluate(df.assign(p=0.5), PredictionsConfig(label="y", score="p"), QualityConfig(task="multiclass"), None)
    numbers = df.assign(yhat=pd.factorize(df.yhat)[0])  # 0..4 against cat..gnu: no value in common
    with pytest.raises(InputError, match=r"prediction column 'yhat' .*no value in common.*label column 'y'"):
        evaluate(numbers, PRED, QualityConfig(task="multiclass"), None)
    df.loc[3, "y"] = None
    with pytest.raises(InputError, match="1 missing values"):
        evaluate(df, PRED, QualityConfig(task="multiclass"), None)


def test_binary_task_with_many_labels_points_at_multiclass() -> None:
    with pytest.raises(InputError, match=r"5 distinct values .*task: multiclass"):
        evaluate(_frame(), PredictionsConfig(label="y", prediction="yhat", positive_label="cat"),
                 QualityConfig(), None)


def test_from_the_command_line(tmp_path) -> None:
    import json
    import subprocess
    import sys

    df = _frame(seed=6)
    df.to_parquet(tmp_path / "preds.parquet")
    proc = subprocess.run([sys.executable, "-m", "mlgate", "check", "quality", "--predictions", "preds.parquet",
                           "--label", "y", "--prediction", "yhat", "--task", "multiclass", "--json", "out.json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    gate = json.loads((tmp_path / "out.json").read_text())["gates"][0]
    got = {m["name"]: m["value"] for m in gate["metrics"]}
    assert got["f1_macro"] == pytest.approx(skm.f1_score(df.y, df.yhat, average="macro"), abs=1e-12)
    assert gate["details"]["task"] == "multiclass" and len(gate["details"]["classes"]) == 5
