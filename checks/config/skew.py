"""The `skew:` section of `.github/mlgate.yml`: the samples, the drift limits per kind of feature and per
feature, and prediction parity.

Apart from the gate (checks/gates/skew.py) so that reading a config never loads numpy, pandas or scipy.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlgate.checks.gates.limits import MetricLimits, Severity, StrictModel


class NumericLimits(StrictModel):
    psi: MetricLimits | None = MetricLimits(max=0.2)
    ks: MetricLimits | None = MetricLimits(max=0.1)


class CategoricalLimits(StrictModel):
    """Judged on PSI (an effect size) by default. The chi-square p-value and Cramér's V are always
    reported and judged only when given a limit: at 200,000 rows a shift of one point is
    "significant" (p < 1e-6), which says nothing about whether it matters."""

    psi: MetricLimits | None = MetricLimits(max=0.2)
    chi2_pvalue: MetricLimits | None = None
    cramers_v: MetricLimits | None = None


class FeatureOverride(StrictModel):
    """Per-feature limits; a key given here replaces the default for that metric (null disables it)."""

    kind: Literal["numeric", "categorical"] | None = None
    psi: MetricLimits | None = None
    ks: MetricLimits | None = None
    chi2_pvalue: MetricLimits | None = None
    cramers_v: MetricLimits | None = None


class ParityConfig(StrictModel):
    reference: str  # predictions from the training environment
    candidate: str  # predictions of the packaged model on the same rows
    id: str
    columns: list[str] = Field(min_length=1)
    tolerance: float = Field(default=1e-6, ge=0.0)
    severity: Severity = "fail"


class SkewConfig(StrictModel):
    """The `skew:` section of `.github/mlgate.yml`."""

    training: str | None = None
    serving: str | None = None
    features: list[str] | None = None  # default: the columns both samples have, minus `exclude`
    exclude: list[str] = []
    numeric: NumericLimits = NumericLimits()
    categorical: CategoricalLimits = CategoricalLimits()
    bins: int = Field(default=10, ge=2, le=1000)
    max_drifted_share: float = Field(default=0.3, ge=0.0, le=1.0)
    feature_severity: Severity = "warn"  # a drifted feature's severity unless its limit sets one
    per_feature: dict[str, FeatureOverride] = {}
    parity: ParityConfig | None = None

    @model_validator(mode="after")
    def _something_to_do(self) -> SkewConfig:
        if (self.training is None) != (self.serving is None):
            raise ValueError("give both 'training' and 'serving' samples (or neither, with 'parity')")
        if self.training is None and self.parity is None:
            raise ValueError("nothing to check: give 'training' and 'serving', or 'parity'")
        return self
