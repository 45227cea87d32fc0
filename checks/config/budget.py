"""The `budget:` section of `.github/mlgate.yml`: the model's cost limits and how latency is measured.

Apart from the gate (checks/gates/budget.py) so that reading a config never loads numpy or pandas.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from mlgate.checks.gates.limits import Severity, StrictModel

GROWTH_KEYS = ("size_mb", "parameters", "row_p50_ms", "row_p99_ms", "batch_p50_ms", "batch_p99_ms", "peak_memory_mb")


class LatencyConfig(StrictModel):
    """How latency is measured: `rows` single-row calls and `batches` calls of `batch_size` rows per repeat."""

    data: str | None = None  # rows to predict on; default predictions.model.data
    features: list[str] | None = None  # default: the names the model was fitted with
    rows: int = Field(default=100, ge=1, le=100_000)
    batch_size: int = Field(default=100, ge=1, le=1_000_000)
    batches: int = Field(default=10, ge=1, le=10_000)
    repeats: int = Field(default=5, ge=3, le=1000)  # >= 3: a failure must never rest on one sample
    warmup: int = Field(default=5, ge=0, le=10_000)
    tolerance: float = Field(default=0.2, ge=0.0, le=10.0)  # relative band above a limit that only warns
    method: Literal["auto", "predict", "predict_proba", "decision_function"] = "auto"


class GrowthNeedsGain(StrictModel):
    """Fail when parameters grow by more than `max_parameter_growth` (relative, 0.5 = +50 %) while the
    quality metric improves (in its good direction) by less than `min_gain` (in its own units)."""

    max_parameter_growth: float = Field(ge=0.0)
    min_gain: float = Field(ge=0.0)
    metric: str | None = None  # default: the quality gate's primary metric
    severity: Severity = "fail"


class BudgetConfig(StrictModel):
    """The `budget:` section. Without any limit the gate reports the costs and warns that it cannot block."""

    model: str | None = None  # default artifacts.model, else predictions.model.path
    baseline_model: str | None = None  # the base commit's model (read from --config-ref like a limit file)
    allow_pickle: bool = False
    trusted_types: list[str] = []
    max_size_mb: float | None = Field(default=None, gt=0)
    max_parameters: int | None = Field(default=None, ge=0)
    max_p99_ms: float | None = Field(default=None, gt=0)  # per-row p99
    max_batch_p99_ms: float | None = Field(default=None, gt=0)
    max_peak_memory_mb: float | None = Field(default=None, gt=0)
    max_relative_growth: dict[str, float] = {}  # a number means {size_mb: n, parameters: n}
    growth_needs_gain: GrowthNeedsGain | None = None
    latency: LatencyConfig | None = LatencyConfig()  # null: not measured
    severity: Severity = "fail"

    @field_validator("max_relative_growth", mode="before")
    @classmethod
    def _number_means_size_and_parameters(cls, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return {"size_mb": v, "parameters": v}
        return {} if v is None else v

    @field_validator("max_relative_growth")
    @classmethod
    def _known_growth(cls, v: dict[str, float]) -> dict[str, float]:
        for key, value in v.items():
            if key not in GROWTH_KEYS:
                raise ValueError(f"unknown measure {key!r} in max_relative_growth; valid: {', '.join(GROWTH_KEYS)}")
            if value < 0:
                raise ValueError(f"max_relative_growth.{key} must be >= 0, got {value}")
        return v

    def has_limits(self) -> bool:
        return any(v is not None for v in (self.max_size_mb, self.max_parameters, self.max_p99_ms,
                                           self.max_batch_p99_ms, self.max_peak_memory_mb)) or bool(
            self.max_relative_growth or self.growth_needs_gain)

    def latency_growth_limited(self) -> bool:
        """Whether a growth limit compares latency or memory with the base (which then has to be timed)."""
        return any(k not in ("size_mb", "parameters") for k in self.max_relative_growth)

    def latency_judged(self) -> bool:
        return any(v is not None for v in (self.max_p99_ms, self.max_batch_p99_ms, self.max_peak_memory_mb)) or \
            self.latency_growth_limited()
