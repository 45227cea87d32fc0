"""Limits shared by the metric gates: absolute floors/ceilings and allowed regression vs a baseline.

Pure functions: a value, its baseline and the configured limits in, a judged `Metric` out. Every
gate that compares numbers uses these, so "drop", "relative" and "warn" mean the same everywhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from mlgate.checks.results import LimitCheck, Metric, Status


class StrictModel(BaseModel):
    """Config models reject unknown keys: a typo must not silently disable a gate."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Severity = Literal["fail", "warn"]


class MetricLimits(StrictModel):
    """Limits for one metric.

    `min`/`max` are absolute. `max_drop` is the largest allowed change in the bad direction
    against the baseline (for a higher-is-better metric a fall, for a lower-is-better one a rise),
    in the metric's units; `max_relative_drop` is the same as a fraction of the baseline value.
    `severity: warn` makes every breach of this metric a warning instead of a failure.
    """

    min: float | None = None
    max: float | None = None
    max_drop: float | None = None
    max_relative_drop: float | None = None
    severity: Severity = "fail"

    @model_validator(mode="after")
    def _consistent(self) -> MetricLimits:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        for name in ("max_drop", "max_relative_drop"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ValueError(f"{name} must be >= 0, got {v}")
        return self

    @property
    def needs_baseline(self) -> bool:
        return self.max_drop is not None or self.max_relative_drop is not None


def judge(
    name: str,
    value: float | None,
    limits: MetricLimits | None,
    *,
    higher_is_better: bool | None,
    baseline: float | None = None,
    slice: str = "all",
) -> Metric:
    """Judge one metric value against absolute limits and its baseline.

    A value that is None (not computable, e.g. roc_auc with one class) fails any limit set on it:
    a gate that cannot be measured must not pass silently.
    """
    limits = limits or MetricLimits()
    breach = Status.WARN if limits.severity == "warn" else Status.FAIL
    delta = None if value is None or baseline is None else value - baseline
    checks: list[LimitCheck] = []

    def add(kind: str, threshold: float, observed: float | None, ok: bool) -> None:
        status = Status.PASS if ok else breach
        checks.append(LimitCheck(kind, threshold, status, observed, breach))

    if limits.min is not None:
        add("min", limits.min, value, value is not None and value >= limits.min)
    if limits.max is not None:
        add("max", limits.max, value, value is not None and value <= limits.max)
    note = ""
    if limits.needs_baseline:
        if baseline is None:
            note = "no baseline value: regression limits not applied"
        elif higher_is_better is None:
            note = "metric has no direction: regression limits not applied"
        else:
            worse_by = None if delta is None else (-delta if higher_is_better else delta)
            if limits.max_drop is not None:
                kind = "max_drop" if higher_is_better else "max_increase"
                add(kind, limits.max_drop, worse_by, worse_by is not None and worse_by <= limits.max_drop + 1e-12)
            if limits.max_relative_drop is not None:
                kind = "max_relative_drop" if higher_is_better else "max_relative_increase"
                rel = None if worse_by is None or baseline == 0 else worse_by / abs(baseline)
                allowed = limits.max_relative_drop + 1e-12
                ok = worse_by is not None and (worse_by <= 0 if rel is None else rel <= allowed)
                add(kind, limits.max_relative_drop, rel, ok)
    return Metric(
        name=name,
        value=value,
        status=Status.worst(c.status for c in checks),
        slice=slice,
        baseline=baseline,
        delta=delta,
        higher_is_better=higher_is_better,
        limits=checks,
        note=note,
    )


def threshold_check(
    name: str,
    value: float | None,
    kind: str,
    threshold: float | None,
    *,
    severity: Severity = "fail",
    slice: str = "all",
    higher_is_better: bool | None = None,
) -> Metric:
    """A metric judged by one upper (`max*`) or lower (`min*`) bound, e.g. a PSI or a gap."""
    checks: list[LimitCheck] = []
    if threshold is not None:
        breach = Status.WARN if severity == "warn" else Status.FAIL
        ok = value is not None and (value >= threshold if kind.startswith("min") else value <= threshold + 1e-12)
        checks.append(LimitCheck(kind, threshold, Status.PASS if ok else breach, value, breach))
    return Metric(
        name=name,
        value=value,
        status=Status.worst(c.status for c in checks),
        slice=slice,
        higher_is_better=higher_is_better,
        limits=checks,
    )
