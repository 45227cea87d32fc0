"""Inputs the binary metrics would silently misjudge: a positive_label that is not among the labels
(YAML's unquoted `Yes` is a boolean), predictions with another vocabulary than the labels, more than
two classes, and scores that are not probabilities thresholded at the default 0.5.

Each one is refused with one line naming the column and the values seen (exit 2 from the CLI), or,
where only reported defaults are affected, left out with a finding that says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn import metrics as skm

from mlgate.checks.config.bias import BiasConfig
from mlgate.checks.config.models import parse_config
from mlgate.checks.config.predictions import PredictionsConfig
from mlgate.checks.config.quality import QualityConfig
from mlgate.checks.errors import InputError
from mlgate.checks.gates.bias import evaluate as evaluate_bias
from mlgate.checks.gates.classes import ClassColumn, class_key
from mlgate.checks.gates.quality import evaluate as evaluate_quality
from mlgate.checks.results import Status

MLGATE = [sys.executable, "-m", "mlgate"]


def _yes_no(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.choice(["Yes", "No"], n, p=[0.7, 0.3])
    flip = rng.random(n) < 0.2
    yhat = np.where(flip, np.where(y == "Yes", "No", "Yes"), y)
    return pd.DataFrame({"y": y, "yhat": yhat, "race": rng.choice(["a", "b"], n),
                         "p": np.clip(rng.normal(np.where(y == "Yes", 0.7, 0.3), 0.2), 0, 1)})


# ---- positive_label ------------------------------------------------------------------------------


@pytest.mark.parametrize("positive", [True, 1, "yes", "Y"])
def test_positive_label_not_among_the_labels_is_refused(positive: object) -> None:
    df = _yes_no()
    pcfg = PredictionsConfig(label="y", prediction="yhat", positive_label=positive)
    with pytest.raises(InputError) as quality:
        evaluate_quality(df, pcfg, QualityConfig(metrics={"accuracy": {"min": 0.5}}), None)
    text = str(quality.value)
    assert "\n" not in text
    assert f"positive_label {positive!r} ({type(positive).__name__})" in text
    assert "label column 'y'" in text and "'No', 'Yes'" in text
    with pytest.raises(InputError, match="does not occur in label column 'y'"):
        evaluate_bias(df, pcfg, BiasConfig(sensitive=["race"]), None)


def test_boolean_positive_label_against_text_labels_explains_yaml() -> None:
    df = _yes_no()
    with pytest.raises(InputError, match=r'YAML reads unquoted .*booleans.*positive_label: "Yes"'):
        evaluate_quality(df, PredictionsConfig(label="y", prediction="yhat", positive_label=True),
                         QualityConfig(), None)


def test_unquoted_yes_in_the_config_is_a_boolean_and_is_refused() -> None:
    cfg = parse_config("version: 1\npredictions:\n  label: y\n  prediction: yhat\n  positive_label: Yes\n")
    assert cfg.predictions.positive_label is True  # PyYAML's YAML 1.1 reading: the reason for the check
    with pytest.raises(InputError, match=r"positive_label True \(bool\)"):
        evaluate_quality(_yes_no(), cfg.predictions, QualityConfig(), None)


@pytest.mark.parametrize(("labels", "positive"), [
    ([0, 1], 1), ([0.0, 1.0], 1), ([0, 1], True), ([False, True], 1), ([False, True], True),
    (["0", "1"], 1), (["false", "true"], True), (["No", "Yes"], "Yes"), ([1, 2], 2),
])
def test_positive_label_matching_rule(labels: list, positive: object) -> None:
    """Numbers and booleans compare by value (true = 1), text by its exact text; text that reads as a
    number or as true/false compares as that number."""
    values = pd.Series([labels[0], labels[1], labels[1]], name="y")
    assert ClassColumn.read(values, "label", "t").is_positive(class_key(positive)).tolist() == [0, 1, 1]


def test_labels_without_any_positive_are_refused_with_the_values_seen() -> None:
    df = pd.DataFrame({"y": [0] * 50, "yhat": [0] * 45 + [1] * 5, "race": ["a", "b"] * 25})
    with pytest.raises(InputError, match=r"positive_label 1 \(int, the default\) does not occur in label column 'y' "
                                         r"\(values seen: 0\)"):
        evaluate_quality(df, PredictionsConfig(label="y", prediction="yhat"), QualityConfig(), None)


# ---- vocabularies of labels and predictions --------------------------------------------------------


def test_predictions_with_another_vocabulary_than_the_labels_are_refused() -> None:
    df = _yes_no()
    df["yhat"] = (df.yhat == "Yes").astype(int)  # 1/0 against Yes/No
    pcfg = PredictionsConfig(label="y", prediction="yhat", positive_label="Yes")
    for evaluate, cfg in ((evaluate_quality, QualityConfig()), (evaluate_bias, BiasConfig(sensitive=["race"]))):
        with pytest.raises(InputError) as exc:
            evaluate(df, pcfg, cfg, None)
        text = str(exc.value)
        assert "prediction column 'yhat'" in text and "label column 'y'" in text, text
        assert "0, 1" in text and "'No', 'Yes'" in text, text


def test_predictions_of_the_one_class_the_labels_lack_are_accepted() -> None:
    """All labels positive, some predictions negative: two classes in all, nothing misread."""
    df = pd.DataFrame({"y": ["Yes"] * 40, "yhat": ["Yes"] * 30 + ["No"] * 10})
    result = evaluate_quality(df, PredictionsConfig(label="y", prediction="yhat", positive_label="Yes"),
                              QualityConfig(metrics={"accuracy": {}}), None)
    assert result.metric("accuracy").value == pytest.approx(0.75)


def test_more_than_two_label_values_are_refused_naming_them() -> None:
    df = _yes_no()
    df.loc[:9, "y"] = "Maybe"
    pcfg = PredictionsConfig(label="y", prediction="yhat", positive_label="Yes")
    with pytest.raises(InputError, match=r"label column 'y' has 3 distinct values \('Maybe', 'No', 'Yes'\)"):
        evaluate_quality(df, pcfg, QualityConfig(), None)
    with pytest.raises(InputError, match=r"label column 'y' has 3 distinct values"):
        evaluate_bias(df, pcfg, BiasConfig(sensitive=["race"]), None)


def test_many_label_values_are_listed_briefly() -> None:
    df = pd.DataFrame({"y": np.arange(1000) % 100, "yhat": np.arange(1000) % 2})
    with pytest.raises(InputError) as exc:
        evaluate_quality(df, PredictionsConfig(label="y", prediction="yhat"), QualityConfig(), None)
    text = str(exc.value)
    assert "100 distinct values" in text and "…" in text and len(text) < 500


# ---- scores that are not probabilities ------------------------------------------------------------


def test_decile_scores_with_the_default_threshold_are_refused_by_bias() -> None:
    df = _yes_no()
    df["p"] = np.ceil(df.p * 10).clip(1, 10)  # deciles 1..10: all >= 0.5
    with pytest.raises(InputError, match=r"score column 'p' has \d+ values outside \[0, 1\] .*"
                                         r"set predictions.threshold"):
        evaluate_bias(df, PredictionsConfig(label="y", score="p", positive_label="Yes"),
                      BiasConfig(sensitive=["race"]), None)


def test_decile_scores_need_a_threshold_for_class_metrics() -> None:
    df = _yes_no()
    df["p"] = np.ceil(df.p * 10).clip(1, 10)
    pcfg = PredictionsConfig(label="y", score="p", positive_label="Yes")
    with pytest.raises(InputError, match=r"score column 'p' .*outside \[0, 1\].*threshold"):
        evaluate_quality(df, pcfg, QualityConfig(metrics={"accuracy": {"min": 0.5}}), None)
    # defaults: the ranking metrics are reported, the class metrics left out with a finding
    reported = evaluate_quality(df, pcfg, QualityConfig(), None)
    names = {m.name for m in reported.metrics}
    assert "roc_auc" in names and "accuracy" not in names
    assert any(f.code == "quality.no_threshold" and "threshold" in f.message for f in reported.findings)
    # an explicit threshold on the score's own scale is accepted, above 1 too
    explicit = pcfg.model_copy(update={"threshold": 6})
    judged = evaluate_quality(df, explicit, QualityConfig(metrics={"accuracy": {"min": 0.5}}), None)
    y = (df.y == "Yes").astype(int)
    assert judged.metric("accuracy").value == pytest.approx(skm.accuracy_score(y, df.p >= 6), abs=1e-12)
    bias = evaluate_bias(df, explicit, BiasConfig(sensitive=["race"]), None)
    assert bias.status in (Status.PASS, Status.WARN, Status.FAIL)


def test_threshold_config() -> None:
    assert PredictionsConfig().threshold is None  # not set: 0.5 for probabilities
    assert PredictionsConfig(threshold=7.5).threshold == 7.5
    with pytest.raises(ValidationError, match="finite"):
        PredictionsConfig(threshold=float("nan"))


# ---- through the command line ---------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MLGATE, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_cli_unquoted_yes_is_exit_2_with_one_line(tmp_path: Path) -> None:
    _yes_no().to_csv(tmp_path / "preds.csv", index=False)
    (tmp_path / "mlgate.yml").write_text(
        "version: 1\npredictions:\n  path: preds.csv\n  label: y\n  prediction: yhat\n  positive_label: Yes\n"
        "quality:\n  metrics: {accuracy: {min: 0.5}}\nbias:\n  sensitive: [race]\n")
    proc = _cli("check", "all", "--config", "mlgate.yml", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("mlgate: error:")]
    assert len(errors) == 2  # quality and bias, one line each
    for line in errors:
        assert "positive_label True (bool)" in line and "'No', 'Yes'" in line and "label column 'y'" in line


def test_cli_positive_label_flag_yes_is_the_text_yes(tmp_path: Path) -> None:
    _yes_no().to_csv(tmp_path / "preds.csv", index=False)
    proc = _cli("check", "quality", "--predictions", "preds.csv", "--label", "y", "--prediction", "yhat",
                "--positive-label", "Yes", "--json", "out.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # a flag is not YAML: Yes means the text "Yes"
    gate = json.loads((tmp_path / "out.json").read_text())["gates"][0]
    accuracy = next(m["value"] for m in gate["metrics"] if m["name"] == "accuracy")
    df = _yes_no()
    assert accuracy == pytest.approx((df.y == df.yhat).mean(), abs=1e-12)
    recall = next(m["value"] for m in gate["metrics"] if m["name"] == "recall")
    yes = df.y == "Yes"
    assert recall == pytest.approx((df.yhat[yes] == "Yes").mean(), abs=1e-12)
