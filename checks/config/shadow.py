"""The `shadow:` section of `.github/mlgate.yml`: the export's columns and the shadow limits.

Apart from the gate (checks/gates/shadow.py) so that reading a config never loads numpy or pandas.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from mlgate.checks.config.quality import CLASSIFICATION_METRICS
from mlgate.checks.gates.limits import MetricLimits, Severity, StrictModel


class ShadowSide(StrictModel):
    """The columns holding one model's answer: a score, a class, or both."""

    score: str | None = None
    prediction: str | None = None

    @model_validator(mode="after")
    def _something(self) -> ShadowSide:
        if not self.score and not self.prediction:
            raise ValueError("give the model's `score` column, its `prediction` column, or both")
        return self


class ShadowConfig(StrictModel):
    """The `shadow:` section."""

    export: str  # the table of requests (CSV or Parquet)
    id: str | None = None  # request id column; default predictions.id
    shadow: ShadowSide
    production: ShadowSide
    label: str | None = None  # labels that arrived later; empty = not yet labelled
    positive_label: str | int | float | bool | None = None  # default predictions.positive_label
    threshold: float | None = None  # score -> class when a side has no prediction column (default 0.5)
    sensitive: list[str] | None = None  # default: the bias gate's sensitive columns
    min_group_size: int = Field(default=30, ge=0)
    shadow_version: str | None = None  # column: the shadow model's version, must be this commit's model
    production_version: str | None = None  # column: the production model's version (reported)
    min_requests: int = Field(default=100, ge=1)
    min_labelled: int = Field(default=30, ge=1)
    max_missing_share: float | None = Field(default=0.01, ge=0.0, le=1.0)
    min_agreement: float | None = Field(default=0.9, ge=0.0, le=1.0)
    min_group_agreement: float | None = Field(default=None, ge=0.0, le=1.0)
    max_mean_score_difference: float | None = Field(default=None, ge=0.0)
    max_p99_score_difference: float | None = Field(default=None, ge=0.0)
    max_selection_rate_shift: float | None = Field(default=0.05, ge=0.0, le=1.0)
    quality: dict[str, MetricLimits] = {}
    severity: Severity = "fail"

    @field_validator("quality", mode="before")
    @classmethod
    def _list_means_report(cls, v: Any) -> Any:
        if isinstance(v, list):
            return {name: {} for name in v}
        if isinstance(v, dict):
            return {k: ({} if x is None else x) for k, x in v.items()}
        return v

    @field_validator("quality")
    @classmethod
    def _known_metrics(cls, v: dict[str, MetricLimits]) -> dict[str, MetricLimits]:
        for name in v:
            if name not in CLASSIFICATION_METRICS:
                raise ValueError(f"unknown metric {name!r} in shadow.quality; valid: "
                                 f"{', '.join(CLASSIFICATION_METRICS)}")
        return v
