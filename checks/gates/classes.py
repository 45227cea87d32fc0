"""Class values of labels and predictions: one matching rule, vocabulary checks, encoding.

The quality and bias gates read labels and predictions as written in the user's files: 0/1,
True/False, "Yes"/"No", "1"/"0", categories. Every comparison goes through `class_key`, and every
input the metrics would misjudge (a positive_label matching no label, two vocabularies, more than
two classes for binary metrics) is refused with one line naming the column and the values seen.

A text column is hashed once (pd.factorize) and everything else is computed on its few distinct
values; a numeric 0/1 column is checked with min/max and one comparison, without hashing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlgate.checks.errors import InputError

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


@dataclass(frozen=True)
class ClassColumn:
    """One label or prediction column, read once: its distinct values, and how to map rows."""

    name: str
    values: list[Any]  # distinct, sorted (numbers before text)
    numbers: np.ndarray | None = None  # a plain numeric column, compared in its own dtype
    codes: np.ndarray | None = None  # otherwise: pd.factorize codes into `uniques`
    uniques: list[Any] | None = None

    @classmethod
    def read(cls, values: pd.Series, what: str, where: str) -> ClassColumn:
        """Missing values are a user error (a row without a class cannot be scored)."""
        missing = values.isna()
        if missing.any():
            rows = list(values.index[missing][:5])
            raise InputError(
                f"{what} column {values.name!r} has {int(missing.sum())} missing values (e.g. rows {rows})",
                where=where)
        name = str(values.name)
        if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
            arr = values.to_numpy()
            if arr.dtype.kind in "biuf" and len(arr):
                lo, hi = arr.min(), arr.max()
                if lo == hi or bool(((arr == lo) | (arr == hi)).all()):
                    distinct = [_plain(lo)] if lo == hi else [_plain(lo), _plain(hi)]
                else:
                    distinct = sorted((_plain(u) for u in pd.unique(arr)), key=_sort_key)
                return cls(name, distinct, numbers=arr)
        if not isinstance(values.dtype, pd.CategoricalDtype) and len(values):
            two = _two_text_values(values)
            if two is not None:
                codes, plain = two
                return cls(name, sorted(plain, key=_sort_key), codes=codes, uniques=plain)
        codes, uniques = pd.factorize(values)
        plain = [_plain(u) for u in uniques]
        return cls(name, sorted(plain, key=_sort_key), codes=codes, uniques=plain)

    @property
    def keys(self) -> set[Any]:
        return {class_key(v) for v in self.values}

    def is_positive(self, positive: Any) -> np.ndarray:
        """0/1 per row: 1 where the value's class_key equals `positive` (a class_key)."""
        if self.numbers is not None:
            arr = self.numbers
            if isinstance(positive, str) or (arr.dtype.kind in "biu" and not float(positive).is_integer()):
                return np.zeros(len(arr), dtype=np.int8)
            return (arr == (positive if arr.dtype.kind == "f" else int(positive))).view(np.int8)
        assert self.codes is not None and self.uniques is not None
        hits = np.array([class_key(u) == positive for u in self.uniques], dtype=np.int8)
        return hits[self.codes] if len(hits) else np.zeros(len(self.codes), dtype=np.int8)

    def codes_into(self, index: dict[Any, int]) -> np.ndarray:
        """Codes 0..k−1 per row, for a class index keyed by class_key."""
        if self.numbers is not None:
            codes, uniques = pd.factorize(self.numbers)
            return np.array([index[class_key(_plain(u))] for u in uniques], dtype=np.int64)[codes]
        assert self.codes is not None and self.uniques is not None
        return np.array([index[class_key(u)] for u in self.uniques], dtype=np.int64)[self.codes]


def _two_text_values(values: pd.Series) -> tuple[np.ndarray, list[Any]] | None:
    """Codes and values of a column with one or two distinct values (the usual label column), from
    two vectorised comparisons instead of hashing every row; None when there are more."""
    first = _plain(values.iloc[0])
    other = ~_equals(values, first)
    if not other.any():
        return np.zeros(len(values), dtype=np.int8), [first]
    second = _plain(values.iloc[int(np.argmax(other))])
    if not bool(_equals(values, second)[other].all()):
        return None
    return other.view(np.int8), [first, second]


def _equals(values: pd.Series, value: Any) -> np.ndarray:
    """Row-wise `== value` as a numpy bool array (numpy compares object arrays faster than pandas)."""
    if values.dtype == object:
        return np.asarray(values.to_numpy() == value, dtype=bool)
    return (values == value).to_numpy(dtype=bool)


def _describe_positive(positive: Any, defaulted: bool) -> str:
    return f"positive_label {positive!r} ({type(positive).__name__}{', the default' if defaulted else ''})"


def check_binary(labels: ClassColumn, predictions: ClassColumn | None, positive_label: Any, *, where: str,
                 defaulted: bool = False) -> None:
    """Refuse what binary metrics would misjudge, naming the column and the values seen.

    - more than two distinct labels;
    - a positive_label that matches no label (every row would count as negative: accuracy 1.0 from
      a model that never predicts the class nobody has);
    - predictions whose values are not the labels' (labels Yes/No, predictions 1/0): together the
      two columns may hold two classes at most, so a model that predicts the one class missing from
      the labels is still fine.
    """
    keys = labels.keys
    if len(keys) > 2:
        raise InputError(
            f"label column {labels.name!r} has {len(labels.values)} distinct values ({shown_values(labels.values)}): "
            "the classification metrics and the bias gate judge two classes; map the labels to two (one of them "
            "positive_label), or set quality.task: multiclass for macro/weighted metrics", where=where)
    positive = class_key(positive_label)
    if positive not in keys:
        hint = "set predictions.positive_label to the label value that counts as positive"
        if isinstance(positive_label, bool) and any(isinstance(v, str) and class_key(v) == v for v in labels.values):
            words = ("yes", "y", "on", "true") if positive_label else ("no", "n", "off", "false")
            text = next((v for v in labels.values if isinstance(v, str) and v.lower() in words), "Yes")
            hint = ("YAML reads unquoted yes/no/on/off/true/false as booleans: quote the label in the config, "
                    f'e.g. positive_label: "{text}"')
        raise InputError(
            f"{_describe_positive(positive_label, defaulted)} does not occur in label column {labels.name!r} "
            f"(values seen: {shown_values(labels.values)}); {hint}", where=where)
    if predictions is not None and len(keys | predictions.keys) > 2:
        raise InputError(
            f"prediction column {predictions.name!r} holds values that label column {labels.name!r} does not: "
            f"predictions {shown_values(predictions.values)}, labels {shown_values(labels.values)}; both must "
            f"name the classes alike ({_describe_positive(positive_label, defaulted)} is positive)", where=where)


def binary_classes(labels: pd.Series, predictions: pd.Series | None, positive_label: Any, *, where: str,
                   defaulted: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels and predictions as 0/1 with `positive_label` as 1, after `check_binary`."""
    lab = ClassColumn.read(labels, "label", where)
    pred = None if predictions is None else ClassColumn.read(predictions, "prediction", where)
    check_binary(lab, pred, positive_label, where=where, defaulted=defaulted)
    positive = class_key(positive_label)
    return lab.is_positive(positive), None if pred is None else pred.is_positive(positive)


def binarize(values: pd.Series, positive_label: Any, *, what: str, where: str) -> np.ndarray:
    """One column as 0/1 with `positive_label` as 1 (matched by `class_key`), no vocabulary check
    (the shadow gate reads the two models' class columns and the late labels with it)."""
    return ClassColumn.read(values, what, where).is_positive(class_key(positive_label))


def encode_classes(
    labels: pd.Series, predictions: pd.Series, *, where: str
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Labels and predictions as codes 0..k−1 into one sorted class list (values matched by
    `class_key`, so 1, 1.0 and "1" are one class). Missing values, and prediction values that share
    nothing with the labels (labels cat/dog, predictions 0/1), are refused naming the values."""
    lab = ClassColumn.read(labels, "label", where)
    pred = ClassColumn.read(predictions, "prediction", where)
    if not lab.keys & pred.keys:
        raise InputError(
            f"prediction column {pred.name!r} has no value in common with label column {lab.name!r}: "
            f"predictions {shown_values(pred.values)}, labels {shown_values(lab.values)}; both must name the "
            "classes alike", where=where)
    shown: dict[Any, Any] = {}
    for value in [*lab.values, *pred.values]:
        shown.setdefault(class_key(value), value)
    order = sorted(shown, key=lambda k: _sort_key(shown[k]))
    index = {k: i for i, k in enumerate(order)}
    return lab.codes_into(index), pred.codes_into(index), [shown[k] for k in order]
