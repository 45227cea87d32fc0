"""The `quality:` section of `.github/mlgate.yml`: the task, its metrics and their limits, the future slice.

Apart from the gate (checks/gates/quality.py) so that reading a config never loads numpy or pandas.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ValidationInfo, field_validator

from mlgate.checks.gates.limits import MetricLimits, StrictModel

# metric -> higher_is_better
CLASSIFICATION_METRICS: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "average_precision": True,
    "log_loss": False,
    "brier": False,
}
REGRESSION_METRICS: dict[str, bool] = {"mae": False, "rmse": False, "r2": True}
# several classes, from the predicted class: scikit-learn's average="macro" (every class counts
# the same) and average="weighted" (by support), zero_division=0
MULTICLASS_METRICS: dict[str, bool] = {
    "accuracy": True,
    "balanced_accuracy": True,
    "precision_macro": True,
    "recall_macro": True,
    "f1_macro": True,
    "precision_weighted": True,
    "recall_weighted": True,
    "f1_weighted": True,
}
TASK_METRICS = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS,
                "multiclass": MULTICLASS_METRICS}
HIGHER_IS_BETTER = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS, **MULTICLASS_METRICS}
COUNT_METRICS = ("accuracy", "precision", "recall", "f1")  # need a predicted class
SCORE_METRICS = ("roc_auc", "average_precision", "log_loss", "brier")  # need a score
PROBABILITY_METRICS = ("log_loss", "brier")  # need a score within [0, 1]


def _limits_map(value: Any) -> Any:
    """Let `metrics: [roc_auc, f1]` and `roc_auc:` (no limits) mean "report, do not judge"."""
    if isinstance(value, list):
        return {name: {} for name in value}
    if isinstance(value, dict):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


class FutureConfig(StrictModel):
    """Rows whose predictions.timestamp is after `cutoff` form slice "future", the rest "holdout".

    `cutoff` is a date/datetime or a number (e.g. a year), compared with the timestamp column as is.
    `metrics` are judged on the future rows; `max_gap` limits holdout-minus-future (in the bad
    direction: a positive gap means the future is worse) per metric.
    """

    cutoff: int | float | datetime | date | str
    metrics: dict[str, MetricLimits] = {}
    max_gap: dict[str, float] = {}

    _metrics_map = field_validator("metrics", mode="before")(_limits_map)

    @field_validator("cutoff")
    @classmethod
    def _parse_cutoff(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("cutoff must be a date, a datetime or a number")
        if isinstance(v, str):
            # pandas decides, as in the gate; imported only for a cutoff written as text (YAML reads an
            # unquoted date as a date), so loading a config normally never loads pandas
            import pandas as pd

            try:
                pd.Timestamp(v)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"cutoff {v!r} is neither a date nor a number") from exc
        return v


class QualityConfig(StrictModel):
    """The `quality:` section. Without `metrics`, every metric the columns allow is reported, unjudged."""

    task: Literal["classification", "regression", "multiclass"] = "classification"
    metrics: dict[str, MetricLimits] | None = None
    future: FutureConfig | None = None

    _metrics_map = field_validator("metrics", mode="before")(_limits_map)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v: dict[str, MetricLimits] | None, info: ValidationInfo) -> Any:
        _check_names(info.data.get("task", "classification"), "metrics", list(v or {}))
        return v

    @field_validator("future")
    @classmethod
    def _known_future_metrics(cls, v: FutureConfig | None, info: ValidationInfo) -> Any:
        if v is not None:
            task = info.data.get("task", "classification")
            _check_names(task, "future.metrics", list(v.metrics))
            _check_names(task, "future.max_gap", list(v.max_gap))
        return v

    def main_metrics(self, *, has_score: bool, has_class: bool) -> list[str]:
        if self.metrics is not None:
            return list(self.metrics)
        if self.task in ("regression", "multiclass"):
            return list(TASK_METRICS[self.task])
        return [m for m in CLASSIFICATION_METRICS if (m in SCORE_METRICS and has_score)
                or (m in COUNT_METRICS and has_class)]


def _check_names(task: str, where: str, names: list[str]) -> None:
    """Unknown metric names are config errors that list the valid ones (and hint at `task`)."""
    valid = TASK_METRICS[task]
    for name in names:
        if name not in valid:
            hint = ""
            other = next((t for t, known in TASK_METRICS.items() if t != task and name in known), None)
            if other:
                hint = f" ({name} is a {other} metric: set task: {other})"
            raise ValueError(f"unknown {task} metric {name!r} in {where}{hint}; valid: {', '.join(valid)}")
