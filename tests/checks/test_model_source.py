"""Predictions made by a model file: skops loads safely, pickles only when allowed, errors say why."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from mlgate.checks.config.predictions import ModelSource, PredictionsConfig
from mlgate.checks.errors import InputError
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.predictions import PREDICTION_COLUMN, SCORE_COLUMN, load_model, load_predictions

FEATURES = ["age", "income"]


class CustomModel(LogisticRegression):
    """A type skops does not know, so it must be refused unless trusted explicitly."""


@pytest.fixture
def data(tmp_path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 200), "income": rng.normal(50, 15, 200)})
    frame["y"] = (frame["age"] / 10 + frame["income"] / 15 + rng.normal(0, 1, 200) > 7.3).astype(int)
    frame["row_id"] = range(len(frame))
    frame.to_csv(tmp_path / "data.csv", index=False)
    return frame


def fitted(data: pd.DataFrame, cls: type[LogisticRegression] = LogisticRegression) -> LogisticRegression:
    return cls(max_iter=500).fit(data[FEATURES], data["y"])


def config(path: str, **model: object) -> PredictionsConfig:
    return PredictionsConfig(label="y", id="row_id", model=ModelSource(path=path, data="data.csv", **model))


def test_skops_model_predicts_and_scores(tmp_path: Path, data: pd.DataFrame) -> None:
    model = fitted(data)
    sio.dump(model, tmp_path / "model.skops")
    ctx = RunContext(base_dir=tmp_path)
    frame, cfg, notes = load_predictions(config("model.skops"), ctx)
    assert cfg.prediction == PREDICTION_COLUMN and cfg.score == SCORE_COLUMN
    X = pd.read_csv(tmp_path / "data.csv")[FEATURES]  # the rows exactly as the gate read them
    np.testing.assert_array_equal(frame[PREDICTION_COLUMN], model.predict(X))
    # The same model, loaded back: equal up to BLAS summation order (layout of X may differ).
    np.testing.assert_allclose(frame[SCORE_COLUMN], model.predict_proba(X)[:, 1], rtol=0, atol=1e-12)
    assert list(frame["y"]) == list(data["y"]) and list(frame["row_id"]) == list(data["row_id"])
    assert notes == ["model loaded with skops from model.skops"]
    assert set(ctx.files) == {"model.skops", "data.csv"}  # both are versioned in the results


def test_positive_label_picks_the_score_column(tmp_path: Path, data: pd.DataFrame) -> None:
    model = fitted(data)
    sio.dump(model, tmp_path / "model.skops")
    cfg = config("model.skops").model_copy(update={"positive_label": 0})
    frame, _, _ = load_predictions(cfg, RunContext(base_dir=tmp_path))
    np.testing.assert_allclose(frame[SCORE_COLUMN], model.predict_proba(data[FEATURES])[:, 0])


def test_wrong_positive_label_is_a_clear_error(tmp_path: Path, data: pd.DataFrame) -> None:
    sio.dump(fitted(data), tmp_path / "model.skops")
    cfg = config("model.skops").model_copy(update={"positive_label": "yes"})
    expected = r"model\.skops: positive_label 'yes' \(str\) is not one of the model's classes \[0, 1\]"
    with pytest.raises(InputError, match=expected):
        load_predictions(cfg, RunContext(base_dir=tmp_path))


def test_pickle_is_refused_without_allow_pickle(tmp_path: Path, data: pd.DataFrame) -> None:
    joblib.dump(fitted(data), tmp_path / "model.pkl")
    expected = r"model\.pkl: refusing to load a pickle \(it can run arbitrary code\)"
    with pytest.raises(InputError, match=expected) as info:
        load_predictions(config("model.pkl"), RunContext(base_dir=tmp_path))
    assert "allow_pickle: true" in str(info.value) and "skops" in str(info.value)


def test_pickle_loads_with_allow_pickle_and_says_so(tmp_path: Path, data: pd.DataFrame) -> None:
    model = fitted(data)
    joblib.dump(model, tmp_path / "model.joblib")
    frame, _, notes = load_predictions(config("model.joblib", allow_pickle=True), RunContext(base_dir=tmp_path))
    np.testing.assert_allclose(frame[SCORE_COLUMN], model.predict_proba(data[FEATURES])[:, 1])
    assert len(notes) == 1 and "pickle" in notes[0] and "runs code" in notes[0] and notes[0].startswith("⚠️")


def test_skops_with_an_untrusted_type_is_refused_naming_it(tmp_path: Path, data: pd.DataFrame) -> None:
    sio.dump(fitted(data, CustomModel), tmp_path / "custom.skops")
    type_name = f"{__name__}.CustomModel"
    with pytest.raises(InputError, match=r"custom\.skops: model contains types skops does not trust") as info:
        load_predictions(config("custom.skops"), RunContext(base_dir=tmp_path))
    assert type_name in str(info.value) and "trusted_types" in str(info.value)
    frame, _, _ = load_predictions(config("custom.skops", trusted_types=[type_name]), RunContext(base_dir=tmp_path))
    assert frame[SCORE_COLUMN].between(0, 1).all()


def test_model_without_feature_names_needs_features_configured(tmp_path: Path, data: pd.DataFrame) -> None:
    model = LogisticRegression().fit(data[FEATURES].to_numpy(), data["y"])
    sio.dump(model, tmp_path / "model.skops")
    expected = r"model\.skops: the model does not record its feature names; list them in predictions\.model\.features"
    with pytest.raises(InputError, match=expected):
        load_predictions(config("model.skops"), RunContext(base_dir=tmp_path))
    frame, _, _ = load_predictions(config("model.skops", features=FEATURES), RunContext(base_dir=tmp_path))
    np.testing.assert_allclose(frame[SCORE_COLUMN], model.predict_proba(data[FEATURES].to_numpy())[:, 1])


def test_data_missing_a_model_feature_names_the_column(tmp_path: Path, data: pd.DataFrame) -> None:
    sio.dump(fitted(data), tmp_path / "model.skops")
    data.drop(columns=["income"]).to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(InputError, match=r"data\.csv: missing column 'income'"):
        load_predictions(config("model.skops"), RunContext(base_dir=tmp_path))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.skops", None, "model file not found"),
        ("model.onnx", b"x", "unsupported model format '.onnx'"),
        ("broken.skops", b"not a zip file", "cannot load the model"),
        ("broken.pkl", b"not a pickle", "cannot load the model"),
    ],
)
def test_unloadable_model_files_are_input_errors(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_model(tmp_path / name, allow_pickle=True)
    assert name in str(info.value)


def test_a_multiclass_model_serves_task_multiclass(tmp_path: Path, data: pd.DataFrame) -> None:
    from sklearn import metrics as skm

    from mlgate.checks.config.quality import QualityConfig
    from mlgate.checks.gates.quality import evaluate

    data["y"] = pd.cut(data["age"], [-np.inf, 35, 45, np.inf], labels=["young", "mid", "old"]).astype(str)
    data.to_csv(tmp_path / "data.csv", index=False)
    model = fitted(data)
    sio.dump(model, tmp_path / "model.skops")
    frame, cfg, _ = load_predictions(config("model.skops"), RunContext(base_dir=tmp_path))
    assert cfg.score is None  # one probability column cannot stand for three classes
    result = evaluate(frame, cfg, QualityConfig(task="multiclass", metrics=["f1_macro"]), None)
    expected = skm.f1_score(frame["y"], frame[PREDICTION_COLUMN], average="macro")
    assert result.metric("f1_macro").value == pytest.approx(expected, abs=1e-12)


def test_unquoted_yes_against_a_models_text_classes_names_the_fix(tmp_path: Path, data: pd.DataFrame) -> None:
    data["y"] = np.where(data["y"] == 1, "Yes", "No")
    data.to_csv(tmp_path / "data.csv", index=False)
    sio.dump(fitted(data), tmp_path / "model.skops")
    cfg = config("model.skops").model_copy(update={"positive_label": True})
    with pytest.raises(InputError, match=r"positive_label True \(bool\) is not one of the model's classes "
                                         r"\['No', 'Yes'\].*quote"):
        load_predictions(cfg, RunContext(base_dir=tmp_path))
