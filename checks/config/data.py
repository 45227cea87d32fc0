"""The `data:` section of `.github/mlgate.yml`: the table, its schema, missing-value limits, staleness.

Apart from the gate (checks/gates/data.py) so that reading a config never loads numpy or pandas.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field, field_validator

from mlgate.checks.gates.limits import Severity, StrictModel

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|s)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}

Share = Annotated[float, Field(ge=0.0, le=1.0)]


class MissingLimit(StrictModel):
    """The long form of a missing-value limit, for when a breach should only warn."""

    max_share: Share
    severity: Severity = "fail"


class StalenessConfig(StrictModel):
    """The newest value of `column` must be at most `max_age` old (`30d`, `12h`, `90m`, `2w`, `45s`).

    `now` pins the reference time (ISO 8601) so a run can be reproduced; naive times are UTC. The
    column holds timestamps (datetime, or text pandas parses), or whole-number years.
    """

    column: str
    max_age: str
    now: datetime | None = None
    severity: Severity = "fail"

    @field_validator("max_age")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def max_age_days(self) -> float:
        return parse_duration(self.max_age).total_seconds() / 86400


class DataConfig(StrictModel):
    """The `data:` section of `.github/mlgate.yml`."""

    table: str
    # A path to a pandera YAML schema, or the schema mapping itself. (`schema` is a BaseModel name.)
    table_schema: str | dict[str, Any] | None = Field(default=None, alias="schema")
    # column (or "*" for every column not named) -> largest allowed share of missing values
    missing: dict[str, Share | MissingLimit] = {}
    staleness: StalenessConfig | None = None


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"invalid duration {text!r}: use a number and a unit w, d, h, m or s, e.g. '30d'")
    return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()])
