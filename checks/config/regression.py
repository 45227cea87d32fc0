"""The `regression:` section of `.github/mlgate.yml`: the golden set, its columns and the limits.

Apart from the gate (checks/gates/regression.py) so that reading a config never loads numpy or pandas.
"""

from __future__ import annotations

from pydantic import Field

from mlgate.checks.gates.limits import Severity, StrictModel


class RegressionConfig(StrictModel):
    """The `regression:` section of `.github/mlgate.yml`."""

    golden: str  # candidate predictions on the golden set
    baseline_predictions: str  # the base branch model's predictions on the same rows
    # Column names. Unset, `id` comes from the `predictions:` section, and so do `prediction` and
    # `score` when neither is set here.
    id: str | None = None
    prediction: str | None = None
    score: str | None = None
    max_changed_share: float = Field(default=0.0, ge=0.0, le=1.0)
    max_score_change: float | None = Field(default=0.05, ge=0.0)
    acknowledge: list[str | int] = []
    severity: Severity = "fail"  # what a breach of the two limits means
