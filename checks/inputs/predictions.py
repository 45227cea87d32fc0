"""The predictions table the quality and bias gates judge: read from a file, or made by a model.

Either `predictions.path` names a CSV/Parquet table with label/prediction/score columns, or
`predictions.model` names a scikit-learn model file and a dataset to predict from. Models load
through skops (no arbitrary code) when the file is `.skops`; a pickle/joblib file runs code on
load, so it is refused unless `allow_pickle: true` is set, and the report says it was loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.checks.config.predictions import PredictionsConfig
from mlgate.checks.errors import InputError
from mlgate.checks.gates.classes import binary_classes, class_key
from mlgate.checks.inputs.context import RunContext
from mlgate.checks.inputs.tables import read_table, require_columns

PREDICTION_COLUMN = "__mlgate_prediction__"
DEFAULT_THRESHOLD = 0.5
SCORE_COLUMN = "__mlgate_score__"


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
            if pos is not None:
                out[SCORE_COLUMN] = proba[:, pos]
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"model failed to predict: {exc}", where=str(model_path)) from exc
    updated = cfg.model_copy(
        update={"prediction": PREDICTION_COLUMN, "score": SCORE_COLUMN if SCORE_COLUMN in out else None}
    )
    return out, updated, [note]


def _positive_index(classes: list[Any], positive: Any, where: Path) -> int | None:
    """The column of predict_proba that scores positive_label; None for a model of more than two
    classes (its one-class probability is no score of the task: task: multiclass uses predict)."""
    if len(classes) != 2:
        return None
    for i, c in enumerate(classes):
        if class_key(c) == class_key(positive):
            return i
    hint = ""
    if isinstance(positive, bool) and all(isinstance(c, str) for c in classes):
        hint = ("; YAML reads unquoted yes/no/on/off/true/false as booleans: quote the label in the config, "
                'e.g. positive_label: "Yes"')
    raise InputError(
        f"positive_label {positive!r} ({type(positive).__name__}) is not one of the model's classes {classes}{hint}",
        where=str(where))


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


def class_arrays(frame: pd.DataFrame, p: PredictionsConfig, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels and (with a prediction column) predicted classes as 0/1, after the vocabulary checks
    of `mlgate.checks.gates.classes.binary_classes` (two classes, positive_label among the labels)."""
    assert p.label
    return binary_classes(frame[p.label], frame[p.prediction] if p.prediction else None, p.positive_label,
                          where=where, defaulted=p.positive_label_defaulted)


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
