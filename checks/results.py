"""The results model: what every gate returns and what the JSON file holds.

The bot and the GitHub Actions read these files back (a PR's baseline is the results JSON of its
base commit), so the shape is versioned (`SCHEMA_ID`) and documented in README.md and in
`checks/results.schema.json`. Add fields; never rename or remove them within a version.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

SCHEMA_ID = "mlgate.results/v1"


class Status(str, enum.Enum):
    """A verdict. Ordered by severity so the worst one wins when combining."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def icon(self) -> str:
        return _ICON[self]

    @classmethod
    def worst(cls, statuses: Iterable[Status]) -> Status:
        """The most severe status; PASS when there is none."""
        return max(statuses, key=lambda s: s.rank, default=cls.PASS)


_RANK = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2, Status.ERROR: 3}
_ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.ERROR: "💥"}


def clean_number(value: Any) -> float | int | None:
    """JSON has no NaN/inf: map them to None so every reader can parse the file."""
    if value is None:
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass
class LimitCheck:
    """One limit applied to one value, e.g. `min 0.70` or `max_drop 0.02 (vs baseline)`."""

    kind: str  # min, max, max_drop, max_increase, max_difference, min_ratio, ...
    threshold: float
    status: Status
    observed: float | None = None  # the number compared with the threshold (a delta for *_drop)
    severity: Status = Status.FAIL  # what a breach means: FAIL, or WARN for advisory limits

    def text(self) -> str:
        return f"{LIMIT_LABELS.get(self.kind, self.kind)} {_fmt(self.threshold)}"


LIMIT_LABELS = {
    "min": "≥",
    "max": "≤",
    "max_drop": "drop ≤",
    "max_relative_drop": "rel. drop ≤",
    "max_increase": "rise ≤",
    "max_relative_increase": "rel. rise ≤",
    "max_difference": "gap ≤",
    "min_ratio": "ratio ≥",
    "max_share": "share ≤",
    "max_gap": "gap ≤",
}


def _fmt(x: float) -> str:
    return f"{x:.4g}"


@dataclass
class Metric:
    """A named number with its baseline, delta and the limits it was judged against."""

    name: str
    value: float | None
    status: Status = Status.PASS
    slice: str = "all"  # which rows: "all", "holdout", "future", a feature name, a group …
    baseline: float | None = None
    delta: float | None = None
    higher_is_better: bool | None = None
    limits: list[LimitCheck] = field(default_factory=list)
    note: str = ""

    @property
    def limit_text(self) -> str:
        return "; ".join(lim.text() for lim in self.limits) or "—"


FINDING_SEVERITIES = ("info", "warn", "fail", "error")


@dataclass
class Finding:
    """Something a reader must see: a violation, a caveat, or a piece of advice.

    `severity` is one of FINDING_SEVERITIES; "info" never changes a gate's status.
    """

    severity: str
    message: str
    column: str | None = None
    count: int | None = None
    examples: list[Any] = field(default_factory=list)
    code: str = ""  # a stable machine-readable id, e.g. "schema.range", "baseline.missing"


@dataclass
class GroupRow:
    """One group of one sensitive attribute (or intersection) in the bias table."""

    attribute: str
    group: str
    count: int
    judged: bool
    metrics: dict[str, float | None]
    baseline: dict[str, float | None] = field(default_factory=dict)
    status: Status = Status.PASS


@dataclass
class GateResult:
    """The outcome of one gate."""

    gate: str
    status: Status
    summary: str
    metrics: list[Metric] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)
    baseline_used: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str, slice: str = "all") -> Metric | None:
        return next((m for m in self.metrics if m.name == name and m.slice == slice), None)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(
            gate=data["gate"],
            status=Status(data["status"]),
            summary=data.get("summary", ""),
            metrics=[_metric_from(m) for m in data.get("metrics", [])],
            findings=[Finding(**f) for f in data.get("findings", [])],
            groups=[GroupRow(**{**g, "status": Status(g.get("status", "pass"))}) for g in data.get("groups", [])],
            baseline_used=bool(data.get("baseline_used", False)),
            details=data.get("details", {}),
        )


@dataclass
class RunResults:
    gates: list[GateResult]
    versions: dict[str, Any]
    baseline: dict[str, Any]
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @property
    def status(self) -> Status:
        return Status.worst(g.status for g in self.gates)

    @property
    def summary(self) -> str:
        blocking = [g.gate for g in self.gates if g.status in (Status.FAIL, Status.ERROR)]
        warned = [g.gate for g in self.gates if g.status == Status.WARN]
        if blocking:
            return f"{len(blocking)} of {len(self.gates)} gates block the merge: {', '.join(blocking)}"
        if warned:
            return f"all {len(self.gates)} gates passed, with warnings in: {', '.join(warned)}"
        return f"all {len(self.gates)} gates passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID,
            "status": self.status.value,
            "summary": self.summary,
            "created_at": self.created_at,
            "versions": self.versions,
            "baseline": self.baseline,
            "gates": [g.to_dict() for g in self.gates],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResults:
        return cls(
            gates=[GateResult.from_dict(g) for g in data.get("gates", [])],
            versions=data.get("versions", {}),
            baseline=data.get("baseline", {}),
            created_at=data.get("created_at", ""),
        )


def _metric_from(m: dict[str, Any]) -> Metric:
    limits = [
        LimitCheck(**{**lim, "status": Status(lim["status"]), "severity": Status(lim.get("severity", "fail"))})
        for lim in m.get("limits", [])
    ]
    return Metric(**{**m, "status": Status(m.get("status", "pass")), "limits": limits})


def finding_status(severity: str) -> Status:
    """The gate status a finding of this severity implies ("info" implies nothing: PASS)."""
    return {"info": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL, "error": Status.ERROR}[severity]


def error_result(gate: str, message: str, code: str = "input") -> GateResult:
    """A gate that could not be computed: reported as `error`, which blocks like a failure."""
    return GateResult(
        gate=gate,
        status=Status.ERROR,
        summary=message,
        findings=[Finding(severity="error", message=message, code=code)],
    )


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Status):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) or hasattr(obj, "dtype"):
        return clean_number(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return obj
