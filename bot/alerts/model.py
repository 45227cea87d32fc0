"""The alerts' plain data: what was seen (facts), what is wrong (Alert), what to do (Change)."""

from __future__ import annotations

from dataclasses import dataclass, field

GATE_FAILURE, DATA_STALE, DEPLOYMENT, BATCH_TIMEOUT = "gate_failure", "data_stale", "deployment", "batch_timeout"
KINDS = (GATE_FAILURE, DATA_STALE, DEPLOYMENT, BATCH_TIMEOUT)
OPEN, RESOLVED = "open", "resolved"


@dataclass(frozen=True)
class GateOnCommit:
    name: str  # mlgate/<gate> or a required check
    conclusion: str | None
    summary: str = ""


@dataclass(frozen=True)
class LandedCommit:
    """The newest commit the queue landed on a base branch, with the gate results reported on it."""

    base: str
    sha: str
    landed_at: float
    gates: tuple[GateOnCommit, ...] = ()


@dataclass(frozen=True)
class Freshness:
    """What the data gate said about the newest data on a base branch's newest landed commit."""

    base: str
    sha: str
    newest: str | None  # ISO 8601 of the newest data timestamp the data gate saw
    age_days: float | None
    status: str | None  # the age_days metric's status: pass, warn, fail
    limit_days: float | None = None
    pinned_now: bool = False  # the config fixes the gate's clock (staleness.now): wall time does not apply
    newest_epoch: float | None = None


@dataclass(frozen=True)
class DeploymentFact:
    environment: str
    deployment_id: int
    sha: str
    state: str  # pending, success, failure, error, inactive …
    rollback_of: int | None
    at: float


@dataclass(frozen=True)
class BuildFact:
    """A merge-queue batch: running (finished_at None) or the newest finished one of its base."""

    base: str
    build_id: int
    sha: str | None
    pulls: tuple[int, ...]
    requested_at: float
    finished_at: float | None
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class Facts:
    repo: str
    now: float
    landed: tuple[LandedCommit, ...] = ()
    freshness: tuple[Freshness, ...] = ()
    deployments: tuple[DeploymentFact, ...] = ()  # every recorded deployment, any order
    builds: tuple[BuildFact, ...] = ()  # running batches and the newest finished batch per base
    timeout_minutes: float = 120.0


@dataclass(frozen=True)
class Alert:
    """A problem that holds now; `key` identifies it across evaluations (one issue per key)."""

    key: str
    kind: str
    title: str
    body: str


@dataclass(frozen=True)
class StoredAlert:
    key: str
    kind: str
    title: str
    body: str
    state: str  # open or resolved
    issue_number: int | None
    opened_at: float
    updated_at: float
    resolved_at: float | None = None
    synced: bool = False  # the GitHub issue says what this row says


@dataclass(frozen=True)
class Change:
    """open: a new alert (or one that came back); update: its text changed; close: it is resolved."""

    action: str  # open, update, close
    alert: Alert
    issue_number: int | None = None
    note: str = ""


@dataclass(frozen=True)
class AlertSettings:
    """The `alerts:` section as the decision needs it."""

    enabled: bool = True
    issues: bool = True
    label: str = "mlgate-alert"
    kinds: frozenset[str] = field(default_factory=lambda: frozenset(KINDS))
    mention: tuple[str, ...] = ()
