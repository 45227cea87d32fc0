"""The `explain:` section of `.github/mlgate.yml`: permutation importance settings and its limits.

Apart from the gate (checks/gates/explain.py) so that reading a config never loads numpy or pandas.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from mlgate.checks.gates.limits import Severity, StrictModel


class ExplainConfig(StrictModel):
    """The `explain:` section; every key has a default (the model, data and label come from elsewhere)."""

    model: str | None = None  # default artifacts.model, else predictions.model.path
    baseline_model: str | None = None  # the base commit's model (read from --config-ref like a limit file)
    data: str | None = None  # holdout rows with the features and the label; default predictions.model.data
    label: str | None = None  # default predictions.label
    positive_label: str | int | float | bool | None = None  # default predictions.positive_label
    features: list[str] | None = None  # default: the names the model was fitted with
    allow_pickle: bool = False
    trusted_types: list[str] = []
    scoring: str | None = None  # a scikit-learn scorer name; default: the model's own score (accuracy, r2)
    n_repeats: int = Field(default=5, ge=1, le=100)
    random_state: int = 0
    max_rows: int | None = Field(default=2000, ge=10)  # a seeded sample keeps CI fast; null: every row
    top_k: int = Field(default=5, ge=1, le=1000)
    forbidden: list[str] = []  # proxies of sensitive attributes
    forbid_sensitive: bool = True  # bias.sensitive counts as forbidden too
    max_forbidden_importance: float | None = Field(default=None, ge=0)
    max_rank_shift: dict[str, int] = {}  # feature (or "*") -> ranks
    severity: Severity = "warn"  # report-only by default

    @field_validator("max_rank_shift")
    @classmethod
    def _non_negative(cls, v: dict[str, int]) -> dict[str, int]:
        for name, n in v.items():
            if n < 0:
                raise ValueError(f"max_rank_shift.{name} must be >= 0, got {n}")
        return v
