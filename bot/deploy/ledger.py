"""Where deployment state lives: landed versions and the bot's deployments, per repository.

`DeployLedger` is the small interface `bot/deploy/runner.py` needs. `SqlLedger` keeps it in the
bot's database (tables of migration 0002_deployments), `MemoryLedger` in a dict (tests, demo).
Only the recent history is loaded: decisions need the last landed version and, per environment,
the deployments back to the previous successful one.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timezone
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlgate.bot.deploy.decisions import DeployRecord, DeployState, Version
from mlgate.bot.store.tables import UTCDateTime

HISTORY = 200  # rows of each kind loaded per repository

_meta = sa.MetaData()  # kept apart from mlgate.bot.store.tables.metadata: this module owns its tables
deploy_versions = sa.Table(
    "deploy_versions",
    _meta,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("repo", sa.String(255), nullable=False),
    sa.Column("sha", sa.String(64), nullable=False),
    sa.Column("version", sa.JSON(), nullable=False),
    sa.Column("landed_at", UTCDateTime(), nullable=False),
)
deploy_records = sa.Table(
    "deploy_records",
    _meta,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("deployment_id", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("environment", sa.String(255), nullable=False),
    sa.Column("sha", sa.String(64), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("rollback_of", sa.BigInteger(), nullable=True),
    sa.Column("requested_by", sa.String(255), nullable=True),  # migration 0005_dashboard
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)


class DeployLedger(Protocol):
    def load(self, repo: str) -> DeployState: ...

    def add_landed(self, repo: str, version: Version) -> None: ...

    def add_deployment(self, repo: str, record: DeployRecord) -> None: ...

    def set_status(self, repo: str, deployment_id: int, state: str) -> bool:
        """Record the latest status; False when the deployment is not one of the bot's."""
        ...


class MemoryLedger:
    """In-process ledger (lost on restart): for tests and the demo."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, DeployState] = {}

    def load(self, repo: str) -> DeployState:
        with self._lock:
            return self._states.get(repo, DeployState())

    def add_landed(self, repo: str, version: Version) -> None:
        if version.landed_at is None:
            version = dataclasses.replace(version, landed_at=_now().timestamp())
        with self._lock:
            s = self._states.get(repo, DeployState())
            self._states[repo] = dataclasses.replace(s, landed=(*s.landed, version)[-HISTORY:])

    def add_deployment(self, repo: str, record: DeployRecord) -> None:
        with self._lock:
            s = self._states.get(repo, DeployState())
            self._states[repo] = dataclasses.replace(s, deployments=(*s.deployments, record)[-HISTORY:])

    def set_status(self, repo: str, deployment_id: int, state: str) -> bool:
        with self._lock:
            s = self._states.get(repo, DeployState())
            if s.deployment(deployment_id) is None:
                return False
            records = tuple(dataclasses.replace(d, state=state) if d.id == deployment_id else d for d in s.deployments)
            self._states[repo] = dataclasses.replace(s, deployments=records)
            return True


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _version_json(v: Version) -> dict[str, Any]:
    return {"model": v.model, "data": v.data, "gates": [list(g) for g in v.gates], "prs": list(v.prs),
            "card": dict(v.card) if v.card is not None else None}


def _version(sha: str, data: Any, landed_at: datetime | None = None) -> Version:
    d = data if isinstance(data, dict) else {}
    return Version(
        sha=sha,
        model=d.get("model"),
        data=d.get("data"),
        gates=tuple((str(a), str(b)) for a, b in d.get("gates") or ()),
        prs=tuple(int(n) for n in d.get("prs") or ()),
        landed_at=landed_at.timestamp() if landed_at is not None else None,
        card=d.get("card") if isinstance(d.get("card"), dict) else None,
    )


class SqlLedger:
    """The ledger in the bot's database (SQLite or PostgreSQL), one short transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, repo: str) -> DeployState:
        v, r = deploy_versions.c, deploy_records.c
        with self.engine.connect() as conn:
            versions = conn.execute(
                sa.select(v.sha, v.version, v.landed_at).where(v.repo == repo).order_by(v.id.desc()).limit(HISTORY)
            ).all()
            records = conn.execute(
                sa.select(r.deployment_id, r.environment, r.sha, r.state, r.rollback_of, r.requested_by)
                .where(r.repo == repo)
                .order_by(r.deployment_id.desc())
                .limit(HISTORY)
            ).all()
        return DeployState(
            landed=tuple(_version(row.sha, row.version, row.landed_at) for row in reversed(versions)),
            deployments=tuple(
                DeployRecord(int(row.deployment_id), row.environment, row.sha, row.state, row.rollback_of,
                             row.requested_by or "")
                for row in reversed(records)
            ),
        )

    def add_landed(self, repo: str, version: Version) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                deploy_versions.insert().values(
                    repo=repo, sha=version.sha, version=_version_json(version),
                    landed_at=datetime.fromtimestamp(version.landed_at, timezone.utc) if version.landed_at else _now())
            )

    def add_deployment(self, repo: str, record: DeployRecord) -> None:
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                deploy_records.insert().values(
                    repo=repo, deployment_id=record.id, environment=record.environment, sha=record.sha,
                    state=record.state, rollback_of=record.rollback_of, requested_by=record.requested_by or None,
                    created_at=now, updated_at=now,
                )
            )

    def set_status(self, repo: str, deployment_id: int, state: str) -> bool:
        r = deploy_records.c
        with self.engine.begin() as conn:
            result = conn.execute(
                deploy_records.update()
                .where(r.repo == repo, r.deployment_id == deployment_id)
                .values(state=state, updated_at=_now())
            )
        return bool(result.rowcount)


class HasEngine(Protocol):
    """Anything that keeps the bot's database engine, such as `mlgate.bot.store.inbox.Inbox`."""

    @property
    def engine(self) -> Engine: ...


LedgerSource = DeployLedger | HasEngine | Engine  # what the deployer accepts as its ledger


def as_ledger(source: LedgerSource) -> DeployLedger:
    """A ledger from what the caller has: a ledger, the bot's `Inbox` (its engine) or an Engine."""
    if all(callable(getattr(source, m, None)) for m in ("load", "add_landed", "add_deployment", "set_status")):
        return cast(DeployLedger, source)
    engine = source if isinstance(source, Engine) else getattr(source, "engine", None)
    if isinstance(engine, Engine):
        return SqlLedger(engine)
    raise TypeError(f"expected a DeployLedger, the bot's Inbox or an Engine, got {type(source).__name__}")
