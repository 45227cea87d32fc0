"""The predictions table the quality and bias gates judge: read from a file, or made by a model.

Either `predictions.path` names a CSV/Parquet table with label/prediction/score columns, or
`predictions.model` names a scikit-learn model file and a dataset to predict from. Models load
through skops (no arbitrary code) when the file is `.skops`; a pickle/joblib file runs code on
load, so it is refused unless `allow_pickle: true` is set, and the report says it was loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import model_validator

from checks.context import RunContext
from checks.errors import InputError
from checks.io import read_table, require_columns
from checks.limits import StrictModel

PREDICTION_COLUMN = "__mlgate_prediction__"
DEFAULT_THRESHOLD = 0.5
SCORE_COLUMN = "__mlgate_score__"


class ModelSource(StrictModel):
    path: str
    data: str
    features: list[str] | None = None  # default: every column the model was fitted on
    allow_pickle: bool = False
    trusted_types: list[str] = []  # extra types skops may load (see skops.io.get_untrusted_types)


class PredictionsConfig(StrictModel):
    """Where the predictions are and which column plays which role."""

    path: str | None = None
    model: ModelSource | None = None
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    timestamp: str | None = None
    id: str | None = None
    positive_label: str | int | float | bool = 1
    # Turns a score into a predicted class when there is no prediction column. Unset, it is 0.5, which
    # only makes sense for probabilities: scores outside [0, 1] then need it set, on their own scale.
    threshold: float | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PredictionsConfig:
        if self.path and self.model:
            raise ValueError("give either 'path' or 'model', not both")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be a finite number, got {self.threshold}")
        return self

    @property
    def positive_label_defaulted(self) -> bool:
        return "positive_label" not in self.model_fields_set


def load_predictions(
    cfg: PredictionsConfig, ctx: RunContext, extra_columns: Sequence[str] = ()
) -> tuple[pd.DataFrame, PredictionsConfig, list[str]]:
    """Read (or compute) the predictions with the columns the gate needs.

    Returns the frame, the config with `prediction`/`score` pointing at real columns (model output
    gets reserved names), and notes for the report (e.g. that a pickle was loaded).
    """
    wanted = [c for c in (cfg.label, cfg.prediction, cfg.score, cfg.timestamp, cfg.id) if c]
    wanted += [c for c in extra_columns if c not in wanted]
    if cfg.path:
        path = ctx.record(cfg.path)
        return read_table(path, wanted), cfg, []
    if cfg.model:
        return _predict_with_model(cfg, ctx, wanted)
    raise InputError("no predictions given: set predictions.path (or --predictions) or predictions.model")


def _predict_with_model(
    cfg: PredictionsConfig, ctx: RunContext, wanted: list[str]
) -> tuple[pd.DataFrame, PredictionsConfig, list[str]]:
    src = cfg.model
    assert src is not None
    model_path = ctx.record(src.path)
    model, note = load_model(model_path, allow_pickle=src.allow_pickle, trusted=src.trusted_types)
    data_path = ctx.record(src.data)
    frame = read_table(data_path)
    features = src.features or list(getattr(model, "feature_names_in_", []))
    if not features:
        raise InputError(
            "the model does not record its feature names; list them in predictions.model.features",
            where=str(model_path),
        )
    require_columns(frame.columns, features, data_path)
    require_columns(frame.columns, [c for c in wanted if c not in (cfg.prediction, cfg.score)], data_path)
    # a model fitted on a bare array warns on every call when given a DataFrame: give it the array
    X = frame[features] if hasattr(model, "feature_names_in_") else frame[features].to_numpy()
    try:
        out = frame[[c for c in wanted if c in frame.columns]].copy()
        out[PREDICTION_COLUMN] = model.predict(X)
        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(X)
            classes = [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", [])]
            pos = _positive_index(classes, cfg.positive_label, model_path)
            out[SCORE_COLUMN] = proba[:, pos]
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"model failed to predict: {exc}", where=str(model_path)) from exc
    updated = cfg.model_copy(
        update={"prediction": PREDICTION_COLUMN, "score": SCORE_COLUMN if SCORE_COLUMN in out else None}
    )
    return out, updated, [note]


def _positive_index(classes: list[Any], positive: Any, where: Path) -> int:
    for i, c in enumerate(classes):
        if c == positive or str(c) == str(positive):
            return i
    if len(classes) == 2:
        raise InputError(
            f"positive_label {positive!r} is not one of the model's classes {classes}", where=str(where)
        )
    raise InputError(f"expected a binary classifier, model has classes {classes}", where=str(where))


def load_model(path: Path, *, allow_pickle: bool, trusted: Sequence[str] = ()) -> tuple[Any, str]:
    """Load a scikit-learn model: skops safely, pickle/joblib only when explicitly allowed."""
    if not path.is_file():
        raise InputError("model file not found", where=str(path))
    suffix = path.suffix.lower()
    if suffix == ".skops":
        import skops.io as sio

        found = _load(lambda: sio.get_untrusted_types(file=path), path)
        untrusted = [t for t in found if t not in set(trusted)]
        if untrusted:
            raise InputError(
                "model contains types skops does not trust: "
                + ", ".join(untrusted)
                + " (add them to predictions.model.trusted_types if you trust this file)",
                where=str(path),
            )
        return _load(lambda: sio.load(path, trusted=list(trusted) or None), path), (
            f"model loaded with skops from {path.name}"
        )
    if suffix in {".pkl", ".pickle", ".joblib"}:
        if not allow_pickle:
            raise InputError(
                "refusing to load a pickle (it can run arbitrary code); save the model with skops, "
                "or set predictions.model.allow_pickle: true for a file you trust",
                where=str(path),
            )
        import joblib

        return _load(lambda: joblib.load(path), path), (
            f"⚠️ model loaded from a pickle ({path.name}): this runs code from the file"
        )
    raise InputError(f"unsupported model format {suffix!r}; use .skops (or .pkl/.joblib)", where=str(path))


def _load(read: Callable[[], Any], path: Path) -> Any:
    """Run a model loader; a corrupt or foreign file is the user's input error, not a traceback."""
    try:
        return read()
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load the model: {type(exc).__name__}: {detail}", where=str(path)) from exc


MAX_SHOWN_VALUES = 8  # distinct values quoted in a message before "…"


def class_key(value: Any) -> Any:
    """What a class value is compared as: numbers and booleans by value (true = 1.0), text by its
    exact text, except text that reads as a number ("1", "0.0") or as true/false (any case), which
    compares as that number. Nothing else is guessed: "Yes" is not true."""
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value)
    low = text.strip().lower()
    if low in ("true", "false"):
        return 1.0 if low == "true" else 0.0
    try:
        number = float(text)
    except ValueError:
        return text
    return number if np.isfinite(number) else text


def distinct_values(values: pd.Series) -> list[Any]:
    """The distinct non-missing values of a column, sorted for messages (numbers before text).

    A numeric column with at most two values (every binary label) is answered with min/max and
    one comparison pass, no hashing of the whole column.
    """
    present = values.dropna() if values.hasnans else values
    if pd.api.types.is_numeric_dtype(present) and not isinstance(present.dtype, pd.CategoricalDtype) and len(present):
        arr = present.to_numpy()
        lo, hi = arr.min(), arr.max()
        if lo == hi:
            return [_plain(lo)]
        if bool(((arr == lo) | (arr == hi)).all()):
            return [_plain(lo), _plain(hi)]
    if isinstance(present.dtype, pd.CategoricalDtype):
        uniques = list(present.cat.remove_unused_categories().cat.categories)
    else:
        uniques = list(pd.unique(present))
    return sorted((_plain(u) for u in uniques), key=_sort_key)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, int | float | bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def shown_values(values: list[Any]) -> str:
    """'0, 1' or "'No', 'Yes'": values as they are written in the column, a few at most."""
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:MAX_SHOWN_VALUES])
    return shown + (", …" if len(values) > MAX_SHOWN_VALUES else "")


def _describe_positive(positive: Any, defaulted: bool) -> str:
    return f"positive_label {positive!r} ({type(positive).__name__}{', the default' if defaulted else ''})"


def check_classes(labels: pd.Series, predictions: pd.Series | None, positive_label: Any, *, where: str,
                  defaulted: bool = False) -> None:
    """Refuse what binary metrics would misjudge, naming the column and the values seen.

    - more than two distinct labels (the metrics here are binary);
    - a positive_label that matches no label (every row would count as negative: accuracy 1.0 from
      a model that never predicts the class nobody has);
    - predictions whose values are not the labels' (labels Yes/No, predictions 1/0): together the
      two columns may hold two classes at most, so a model that predicts the one class missing from
      the labels is still fine.
    """
    label_values = distinct_values(labels)
    keys = {class_key(v) for v in label_values}
    if len(keys) > 2:
        raise InputError(
            f"label column {labels.name!r} has {len(label_values)} distinct values ({shown_values(label_values)}): "
            "the classification metrics and the bias gate judge two classes; map the labels to two (one of them "
            "positive_label), or set quality.task: multiclass for macro/weighted metrics", where=where)
    positive = class_key(positive_label)
    if positive not in keys:
        hint = "set predictions.positive_label to the label value that counts as positive"
        if isinstance(positive_label, bool) and any(isinstance(v, str) and class_key(v) == v for v in label_values):
            text = next((v for v in label_values if isinstance(v, str) and
                         v.lower() in (("yes", "y", "on", "true") if positive_label else ("no", "n", "off", "false"))),
                        None)
            example = f'positive_label: "{text}"' if text else 'positive_label: "Yes"'
            hint = (f"YAML reads unquoted yes/no/on/off/true/false as booleans: quote the label in the config, "
                    f"e.g. {example}")
        raise InputError(
            f"{_describe_positive(positive_label, defaulted)} does not occur in label column {labels.name!r} "
            f"(values seen: {shown_values(label_values)}); {hint}", where=where)
    if predictions is None:
        return
    predicted = distinct_values(predictions)
    if len(keys | {class_key(v) for v in predicted}) > 2:
        raise InputError(
            f"prediction column {predictions.name!r} holds values that label column {labels.name!r} does not: "
            f"predictions {shown_values(predicted)}, labels {shown_values(label_values)}; both must name the "
            f"classes alike ({_describe_positive(positive_label, defaulted)} is positive)", where=where)


def _no_missing(values: pd.Series, what: str, where: str) -> None:
    missing = values.isna()
    if missing.any():
        rows = list(values.index[missing][:5])
        raise InputError(
            f"{what} column {values.name!r} has {int(missing.sum())} missing values (e.g. rows {rows})",
            where=where,
        )


def binarize(values: pd.Series, positive_label: Any, *, what: str, where: str) -> np.ndarray:
    """Map labels/predictions to 0/1 with `positive_label` as 1 (matched by `class_key`); NaNs are a
    user error. Call `check_classes` first: this only maps, it does not judge the vocabulary."""
    _no_missing(values, what, where)
    positive = class_key(positive_label)
    if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
        arr = values.to_numpy()
        if arr.dtype.kind in "biuf":  # compared in the column's own dtype: no float copy of 10M rows
            if isinstance(positive, str):
                return np.zeros(len(arr), dtype=np.int8)
            if arr.dtype.kind in "biu" and not float(positive).is_integer():
                return np.zeros(len(arr), dtype=np.int8)
            target = positive if arr.dtype.kind == "f" else int(positive)
            return (arr == target).view(np.int8)
    codes, uniques = pd.factorize(values)
    hits = np.array([class_key(_plain(u)) == positive for u in uniques], dtype=np.int8)
    return hits[codes] if len(hits) else np.zeros(len(values), dtype=np.int8)


def class_arrays(frame: pd.DataFrame, p: PredictionsConfig, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels and (with a prediction column) predicted classes as 0/1, after `check_classes`."""
    assert p.label
    labels = frame[p.label]
    predictions = frame[p.prediction] if p.prediction else None
    check_classes(labels, predictions, p.positive_label, where=where, defaulted=p.positive_label_defaulted)
    y = binarize(labels, p.positive_label, what="label", where=where)
    if predictions is None:
        return y, None
    return y, binarize(predictions, p.positive_label, what="prediction", where=where)


def scores_outside_unit(score: np.ndarray) -> tuple[int, float, float]:
    """How many scores lie outside [0, 1], and the range, for messages."""
    bad = int(((score < 0) | (score > 1)).sum())
    return bad, float(score.min()), float(score.max())


def threshold_error(p: PredictionsConfig, bad: int, lo: float, hi: float, where: str) -> InputError:
    return InputError(
        f"score column {p.score!r} has {bad} values outside [0, 1] (min {lo:.4g}, max {hi:.4g}) and "
        f"predictions.threshold is not set: the default {DEFAULT_THRESHOLD} is for probabilities; set "
        "predictions.threshold on the score's own scale, or give predictions.prediction", where=where)


def score_classes(score: np.ndarray, p: PredictionsConfig, where: str) -> np.ndarray:
    """Predicted classes from a score: >= threshold. Without an explicit threshold the scores must
    be probabilities (decile scores 1..10 against 0.5 would make every row positive)."""
    if p.threshold is None:
        bad, lo, hi = scores_outside_unit(score)
        if bad:
            raise threshold_error(p, bad, lo, hi, where)
    threshold = DEFAULT_THRESHOLD if p.threshold is None else p.threshold
    return (score >= threshold).astype(np.int8)


def encode_classes(
    labels: pd.Series, predictions: pd.Series, *, where: str
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Labels and predictions as codes 0..k−1 into one sorted class list (values matched by
    `class_key`, so 1, 1.0 and "1" are one class). Missing values, and prediction values that share
    nothing with the labels (labels cat/dog, predictions 0/1), are refused naming the values."""
    _no_missing(labels, "label", where)
    _no_missing(predictions, "prediction", where)
    lab_codes, lab_uniques = pd.factorize(labels)
    pred_codes, pred_uniques = pd.factorize(predictions)
    lab_values = [_plain(u) for u in lab_uniques]
    pred_values = [_plain(u) for u in pred_uniques]
    lab_keys, pred_keys = [class_key(v) for v in lab_values], [class_key(v) for v in pred_values]
    if not set(lab_keys) & set(pred_keys):
        raise InputError(
            f"prediction column {predictions.name!r} has no value in common with label column {labels.name!r}: "
            f"predictions {shown_values(sorted(pred_values, key=_sort_key))}, labels "
            f"{shown_values(sorted(lab_values, key=_sort_key))}; both must name the classes alike", where=where)
    shown: dict[Any, Any] = {}
    for key, value in [*zip(lab_keys, lab_values, strict=True), *zip(pred_keys, pred_values, strict=True)]:
        shown.setdefault(key, value)
    order = sorted(shown, key=lambda k: _sort_key(shown[k]))
    index = {k: i for i, k in enumerate(order)}
    y = np.array([index[k] for k in lab_keys], dtype=np.int64)[lab_codes]
    y_hat = np.array([index[k] for k in pred_keys], dtype=np.int64)[pred_codes]
    return y, y_hat, [shown[k] for k in order]
