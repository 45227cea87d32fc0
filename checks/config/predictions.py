"""The `predictions:` section of `.github/mlgate.yml`: a predictions table, or a model and the data to
predict from, and which column plays which role.

Apart from the loading code (checks/inputs/predictions.py) so that reading a config never loads numpy
or pandas.
"""

from __future__ import annotations

import math

from pydantic import model_validator

from mlgate.checks.gates.limits import StrictModel


class ModelSource(StrictModel):
    path: str
    data: str
    features: list[str] | None = None  # default: every column the model was fitted on
    allow_pickle: bool = False
    trusted_types: list[str] = []  # extra types skops may load (see skops.io.get_untrusted_types)


class PredictionsConfig(StrictModel):
    """Where the predictions are and which column plays which role."""

    path: str | None = None
    model: ModelSource | None = None
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    timestamp: str | None = None
    id: str | None = None
    positive_label: str | int | float | bool = 1
    # Turns a score into a predicted class when there is no prediction column. Unset, it is 0.5, which
    # only makes sense for probabilities: scores outside [0, 1] then need it set, on their own scale.
    threshold: float | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PredictionsConfig:
        if self.path and self.model:
            raise ValueError("give either 'path' or 'model', not both")
        if self.threshold is not None and not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be a finite number, got {self.threshold}")
        return self

    @property
    def positive_label_defaulted(self) -> bool:
        return "positive_label" not in self.model_fields_set
