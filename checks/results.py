"""The results model: what every gate returns and what the JSON file holds.

The bot and the GitHub Actions read these files back (a PR's baseline is the results JSON of its
base commit), so the shape is versioned (`SCHEMA_ID`) and documented in docs/results.md and in
`checks/results.schema.json`. Add fields; never rename or remove them within a version.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from mlgate.checks.errors import InputError
from mlgate.checks.wording import gates_verdict

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
    "outside_top_k": "not entering top",
    "max_shift": "shift ≤",
    "max_growth_without_gain": "growth without gain ≤",
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

    def to_dict(self, groups: bool = True) -> dict[str, Any]:
        """The JSON form. Built field by field rather than with `dataclasses.asdict`, which deep-copies
        every value: with 30,000 groups that alone took seconds. `groups=False`: the group list left
        empty (`results_json` writes it)."""
        return {
            "gate": self.gate,
            "status": self.status.value,
            "summary": self.summary,
            "metrics": [_jsonable(asdict(m)) for m in self.metrics],
            "findings": [_jsonable(asdict(f)) for f in self.findings],
            "groups": [_group_dict(g) for g in self.groups] if groups else [],
            "baseline_used": self.baseline_used,
            "details": _jsonable(self.details),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "gate") -> GateResult:
        """Read one gate back from JSON, checking every field the report and the bot use.

        Raises ResultsFormatError naming the field's path (e.g. `gates[0].metrics[2].value`); fields
        this version does not know are ignored (a newer writer may add them).
        """
        r = _Reader(data, where)
        return cls(
            gate=r.text("gate"),
            status=r.status("status"),
            summary=r.text("summary", default=""),
            metrics=[_metric_from(m) for m in r.items("metrics")],
            findings=[_finding_from(f) for f in r.items("findings")],
            groups=[_fast_group(g.data) or _group_from(g) for g in r.items("groups")],
            baseline_used=r.flag("baseline_used", default=False),
            details=r.obj("details", default={}),
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
        return gates_verdict(blocking, warned, len(self.gates))

    def to_dict(self, groups: bool = True) -> dict[str, Any]:
        """The JSON form; `groups=False` leaves every gate's group list empty (`results_json` writes them)."""
        return {
            "schema": SCHEMA_ID,
            "status": self.status.value,
            "summary": self.summary,
            "created_at": self.created_at,
            "versions": self.versions,
            "baseline": self.baseline,
            "gates": [g.to_dict(groups) for g in self.gates],
        }

    @classmethod
    def from_dict(cls, data: Any) -> RunResults:
        """Read a results file's content back; every problem is a ResultsFormatError naming the field."""
        r = _Reader(data, "")
        versions = r.reader("versions", default={})
        versions_out = {**versions.data,
                        "mlgate": versions.text("mlgate", default="unknown"),
                        "git_sha": versions.text("git_sha", default=None, optional=True),
                        "config_sha256": versions.text("config_sha256", default=None, optional=True),
                        "files": versions.text_map("files", default={})}
        baseline = r.reader("baseline", default={})
        baseline_out = {**baseline.data,
                        "path": baseline.text("path", default=None, optional=True),
                        "git_sha": baseline.text("git_sha", default=None, optional=True),
                        "note": baseline.text("note", default="")}
        return cls(
            gates=[GateResult.from_dict(g.data, g.where) for g in r.items("gates", required=True)],
            versions=versions_out,
            baseline=baseline_out,
            created_at=r.text("created_at", default=""),
        )


def _metric_from(r: _Reader) -> Metric:
    return Metric(
        name=r.text("name"),
        value=r.number("value"),
        status=r.status("status", default=Status.PASS),
        slice=r.text("slice", default="all"),
        baseline=r.number("baseline", default=None),
        delta=r.number("delta", default=None),
        higher_is_better=r.flag("higher_is_better", default=None, optional=True),
        limits=[_limit_from(lim) for lim in r.items("limits")],
        note=r.text("note", default=""),
    )


def _limit_from(r: _Reader) -> LimitCheck:
    return LimitCheck(
        kind=r.text("kind"),
        threshold=r.number("threshold", optional=False),
        status=r.status("status"),
        observed=r.number("observed", default=None),
        severity=r.status("severity", default=Status.FAIL),
    )


def _finding_from(r: _Reader) -> Finding:
    severity = r.text("severity")
    if severity not in FINDING_SEVERITIES:
        raise r.error("severity", f"is {severity!r}, expected one of {', '.join(FINDING_SEVERITIES)}")
    count = r.number("count", default=None)
    if count is not None and not isinstance(count, int):
        raise r.error("count", f"is {count!r}, expected a whole number or null")
    return Finding(
        severity=severity,
        message=r.text("message"),
        column=r.text("column", default=None, optional=True),
        count=count,
        examples=r.array("examples", default=[]),
        code=r.text("code", default=""),
    )


_STATUSES = {s.value: s for s in Status}


def _fast_group(data: dict[str, Any]) -> GroupRow | None:
    """A well-formed group row read without the field-by-field reader (30,000 groups: ~1 s → ~0.1 s);
    None when anything is unusual, and `_group_from` then reads it and names what is wrong."""
    try:
        attribute, group, count, judged = data["attribute"], data["group"], data["count"], data["judged"]
        metrics, baseline = data["metrics"], data.get("baseline", {})
        status = _STATUSES[data.get("status", "pass")]
    except (KeyError, TypeError):
        return None
    if not (type(attribute) is str and type(group) is str and type(count) is int and type(judged) is bool
            and type(metrics) is dict and type(baseline) is dict):
        return None
    for values in (metrics, baseline):
        for v in values.values():
            if v is not None and (type(v) not in (float, int) or not math.isfinite(v)):
                return None
    return GroupRow(attribute, group, count, judged, dict(metrics), dict(baseline), status)


def _group_from(r: _Reader) -> GroupRow:
    count = r.number("count", optional=False)
    if not isinstance(count, int):
        raise r.error("count", f"is {count!r}, expected a whole number")
    return GroupRow(
        attribute=r.text("attribute"),
        group=r.text("group"),
        count=count,
        judged=r.flag("judged"),
        metrics=r.number_map("metrics"),
        baseline=r.number_map("baseline", default={}),
        status=r.status("status", default=Status.PASS),
    )


class ResultsFormatError(InputError, ValueError):
    """A results file that is not what mlgate writes: a field missing or of the wrong type.

    An InputError (the CLI prints one line, exit 2) and a ValueError (callers that parse results
    from check runs already treat ValueError as "malformed").
    """


_REQUIRED: Any = object()


class _Reader:
    """Typed access to one JSON object, with errors that name the field's path."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise ResultsFormatError(f"{where or 'the file'}: is {_kind(data)}, expected an object")
        self.data: dict[str, Any] = data
        self.where = where

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str, problem: str) -> ResultsFormatError:
        return ResultsFormatError(f"{self.path(key)}: {problem}")

    def _get(self, key: str, default: Any) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(key, "required field is missing")
            return default
        return self.data[key]

    def text(self, key: str, default: Any = _REQUIRED, optional: bool = False) -> Any:
        value = self._get(key, default)
        if value is default and key not in self.data:
            return value
        if isinstance(value, str) or (optional and value is None):
            return value
        raise self.error(key, f"is {_kind(value)}, expected text" + (" or null" if optional else ""))

    def flag(self, key: str, default: Any = _REQUIRED, optional: bool = False) -> Any:
        value = self._get(key, default)
        if key not in self.data or isinstance(value, bool) or (optional and value is None):
            return value
        raise self.error(key, f"is {_kind(value)}, expected true or false" + (" or null" if optional else ""))

    def number(self, key: str, default: Any = _REQUIRED, optional: bool = True) -> Any:
        """A number, or null when `optional` (the JSON form of a value that could not be computed)."""
        value = self._get(key, default)
        if key not in self.data:
            return value
        if (value is None and optional) or (isinstance(value, int | float) and not isinstance(value, bool)
                                            and math.isfinite(value)):
            return value
        raise self.error(key, f"is {_kind(value)}, expected a number" + (" or null" if optional else ""))

    def status(self, key: str, default: Any = _REQUIRED) -> Status:
        value = self._get(key, default)
        if isinstance(value, Status):
            return value
        try:
            return Status(value)
        except ValueError:
            raise self.error(key, f"is {value!r}, expected one of pass, warn, fail, error") from None

    def array(self, key: str, default: Any = _REQUIRED) -> list[Any]:
        value = self._get(key, default)
        if isinstance(value, list):
            return value
        raise self.error(key, f"is {_kind(value)}, expected a list")

    def obj(self, key: str, default: Any = _REQUIRED) -> dict[str, Any]:
        value = self._get(key, default)
        if isinstance(value, dict):
            return value
        raise self.error(key, f"is {_kind(value)}, expected an object")

    def reader(self, key: str, default: Any = _REQUIRED) -> _Reader:
        return _Reader(self.obj(key, default), self.path(key))

    def items(self, key: str, required: bool = False) -> list[_Reader]:
        values = self.array(key, _REQUIRED if required else [])
        return [_Reader(v, f"{self.path(key)}[{i}]") for i, v in enumerate(values)]

    def number_map(self, key: str, default: Any = _REQUIRED) -> dict[str, float | None]:
        inner = self.reader(key, default)
        return {k: inner.number(k) for k in inner.data}

    def text_map(self, key: str, default: Any = _REQUIRED) -> dict[str, str]:
        inner = self.reader(key, default)
        return {k: inner.text(k) for k in inner.data}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


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


def _group_dict(g: GroupRow) -> dict[str, Any]:
    """One group row as JSON, with a fast path for the plain values the bias gate writes."""
    return {
        "attribute": g.attribute if type(g.attribute) is str else _jsonable(g.attribute),
        "group": g.group if type(g.group) is str else _jsonable(g.group),
        "count": g.count if type(g.count) is int else _jsonable(g.count),
        "judged": g.judged if type(g.judged) is bool else _jsonable(g.judged),
        "metrics": _number_map(g.metrics),
        "baseline": _number_map(g.baseline) if g.baseline else {},
        "status": g.status.value if isinstance(g.status, Status) else _jsonable(g.status),
    }


def _number_map(values: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v if (type(v) is float and math.isfinite(v)) or v is None else _jsonable(v)
            for k, v in values.items()}


# Lists longer than this are written one item per line (compact), not one value per line.
_LONG_LIST = 20


def dumps(data: Any) -> str:
    """Results as JSON text for a file: indented like `json.dumps(indent=2)` down to the lists, but a
    long list (metrics, groups, findings of a big run) has one compact item per line.

    `json.dumps(indent=…)` runs Python's pure-Python encoder; with 30,000 groups that took seconds.
    Here each item goes through the C encoder, and the file stays readable and diff-friendly.
    """
    return _dump(data, 0) + "\n"


def results_json(results: RunResults) -> str:
    """`dumps(results.to_dict())`, character for character, without building a dict per group of a
    long group list first: each plain group row (the bias gate writes only str, int, bool and finite
    float or None) is formatted straight to its JSON line. 30,000 groups: 0.3 s → 0.2 s."""
    data = results.to_dict(groups=False)
    for gate, result in zip(data["gates"], results.gates, strict=True):
        if len(result.groups) > _LONG_LIST:
            gate["groups"] = [_Encoded(_group_json(g)) for g in result.groups]
        else:
            gate["groups"] = [_group_dict(g) for g in result.groups]
    return dumps(data)


class _Encoded(str):
    """A list item that is already JSON text (only ever an item of a long list; see `_dump`)."""


_STR = json.encoder.encode_basestring  # what the encoder uses for strings with ensure_ascii=False


def _group_json(g: GroupRow) -> str:
    if (type(g.attribute) is str and type(g.group) is str and type(g.count) is int and type(g.judged) is bool
            and type(g.status) is Status):
        metrics = _numbers_json(g.metrics)
        baseline = _numbers_json(g.baseline) if g.baseline else "{}"
        if metrics is not None and baseline is not None:
            return (f'{{"attribute": {_STR(g.attribute)}, "group": {_STR(g.group)}, "count": {g.count}, '
                    f'"judged": {"true" if g.judged else "false"}, "metrics": {metrics}, "baseline": {baseline}, '
                    f'"status": "{g.status.value}"}}')
    return _ENCODE(_group_dict(g))


def _numbers_json(values: dict[str, Any]) -> str | None:
    """{"fpr": 0.25, "tpr": null} as the encoder writes it, or None when a key or value is not plain."""
    parts = []
    for k, v in values.items():
        if type(k) is not str:
            return None
        if v is None:
            parts.append(f"{_STR(k)}: null")
        elif type(v) is float and math.isfinite(v):
            parts.append(f"{_STR(k)}: {float.__repr__(v)}")
        else:
            return None
    return "{" + ", ".join(parts) + "}"


def _dump(obj: Any, level: int) -> str:
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{_ENCODE(str(k))}: {_dump(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and obj:
        if len(obj) > _LONG_LIST:
            items = [inner + (v if type(v) is _Encoded else _ENCODE(v)) for v in obj]
        else:
            items = [inner + _dump(v, level + 1) for v in obj]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return _ENCODE(obj)


# One encoder for every item: `json.dumps` with any non-default argument builds a new one per call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


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
