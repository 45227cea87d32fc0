"""The `bias:` section of `.github/mlgate.yml`: which groups, which metrics, which limits.

Apart from the gate (checks/gates/bias.py) so that reading a config never loads numpy or pandas.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from mlgate.checks.gates.limits import Severity, StrictModel

# the per-group metrics the gate can compute (checks/gates/confusion.py computes them)
RATE_METRICS = (
    "count",
    "selection_rate",
    "base_rate",
    "tpr",
    "tnr",
    "fpr",
    "fnr",
    "precision",
    "accuracy",
    "f1",
)

DEFAULT_METRICS = ("count", "selection_rate", "tpr", "fpr", "fnr", "accuracy")
CHART_METRICS = ("fpr", "fnr")  # always in GroupRow.metrics: the report draws its bar chart from them


RATED = tuple(m for m in RATE_METRICS if m != "count")  # metrics that can have gap/regression limits


def _check_names(where: str, names: list[str], valid: tuple[str, ...]) -> None:
    for name in names:
        if name not in valid:
            raise ValueError(f"unknown bias metric {name!r} in {where}; valid: {', '.join(valid)}")


class GapLimits(StrictModel):
    """Limits on the spread of one metric across the judged groups of an attribute."""

    max_difference: float | None = Field(default=None, ge=0)  # max − min
    min_ratio: float | None = Field(default=None, ge=0, le=1)  # min / max
    severity: Severity = "fail"


class ScalarLimit(StrictModel):
    """An upper bound on one number; a bare number in YAML means `{max: number}`."""

    max: float = Field(ge=0)
    severity: Severity = "fail"


# Applied when `limits` is omitted (set `limits: {}` to judge nothing): error-rate gaps of at most
# 10 points and the four-fifths rule on selection rates.
DEFAULT_LIMITS: dict[str, GapLimits] = {
    "fpr": GapLimits(max_difference=0.1),
    "fnr": GapLimits(max_difference=0.1),
    "selection_rate": GapLimits(min_ratio=0.8),
}
DEFAULT_LIMITS_TEXT = "fpr gap ≤ 0.1, fnr gap ≤ 0.1, selection_rate ratio ≥ 0.8 (four-fifths rule)"


class BiasConfig(StrictModel):
    """The `bias:` section; only `sensitive` is required."""

    sensitive: list[str] = Field(min_length=1)
    intersections: bool | list[list[str]] = False  # true: every pair of sensitive attributes
    min_group_size: int = Field(default=30, ge=0)
    metrics: list[str] = list(DEFAULT_METRICS)
    limits: dict[str, GapLimits] | None = None  # None: DEFAULT_LIMITS
    equalized_odds_difference: ScalarLimit | None = None
    demographic_parity_difference: ScalarLimit | None = None
    max_group_regression: dict[str, float] = {}

    @field_validator("equalized_odds_difference", "demographic_parity_difference", mode="before")
    @classmethod
    def _bare_number(cls, v: Any) -> Any:
        return {"max": v} if isinstance(v, int | float) and not isinstance(v, bool) else v

    @field_validator("sensitive")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"a column is listed twice: {v}")
        return v

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v: list[str]) -> list[str]:
        _check_names("metrics", v, RATE_METRICS)
        return v

    @field_validator("limits", "max_group_regression")
    @classmethod
    def _known_limited(cls, v: dict[str, Any] | None, info: ValidationInfo) -> Any:
        _check_names(str(info.field_name), list(v or {}), RATED)
        if info.field_name == "max_group_regression":
            for name, tol in (v or {}).items():
                if tol < 0:
                    raise ValueError(f"{name} must be >= 0, got {tol}")
        return v

    @field_validator("intersections")
    @classmethod
    def _known_columns(cls, v: bool | list[list[str]], info: ValidationInfo) -> Any:
        sensitive = info.data.get("sensitive") or []
        for combo in v if isinstance(v, list) else []:
            unknown = [c for c in combo if c not in sensitive]
            if len(combo) < 2 or unknown or len(set(combo)) != len(combo):
                raise ValueError(
                    f"each intersection lists two or more distinct sensitive columns; got {combo}"
                    + (f" ({', '.join(unknown)} not in sensitive)" if unknown else "")
                )
        return v

    @property
    def gap_limits(self) -> dict[str, GapLimits]:
        return DEFAULT_LIMITS if self.limits is None else self.limits

    def groupings(self) -> list[tuple[str, ...]]:
        """Each attribute alone, then the requested intersections."""
        out: list[tuple[str, ...]] = [(c,) for c in self.sensitive]
        if self.intersections is True:
            out += list(combinations(self.sensitive, 2))
        elif isinstance(self.intersections, list):
            out += [tuple(c) for c in self.intersections]
        return out

    def shown(self) -> list[str]:
        """Metrics in each GroupRow: the configured ones, the limited ones, and the chart's."""
        names = [*self.metrics, *self.gap_limits, *self.max_group_regression, *CHART_METRICS]
        return [m for m in dict.fromkeys(names) if m != "count"]
