"""The `alerts` table (migration 0005_dashboard): one row per alert key and repository, open or
resolved, with the number of its GitHub issue and whether the issue says what the row says."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mlgate.bot.alerts.model import OPEN, RESOLVED, Alert, StoredAlert

metadata = sa.MetaData()  # its own: the table belongs to the alerts
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("issue_number", sa.Integer(), nullable=True),
    sa.Column("opened_at", sa.Float(), nullable=False),
    sa.Column("updated_at", sa.Float(), nullable=False),
    sa.Column("resolved_at", sa.Float(), nullable=True),
    sa.Column("synced", sa.Boolean(), nullable=False, server_default=sa.false()),
)
_c = alerts.c


def _stored(row: sa.Row) -> StoredAlert:
    return StoredAlert(row.key, row.kind, row.title, row.body, row.state, row.issue_number, row.opened_at,
                       row.updated_at, row.resolved_at, bool(row.synced))


class AlertStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, repo: str) -> dict[str, StoredAlert]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(alerts).where(_c.repo == repo)).all()
        return {r.key: _stored(r) for r in rows}

    def opened(self, repo: str, alert: Alert, now: float) -> None:
        values = {"kind": alert.kind, "title": alert.title, "body": alert.body, "state": OPEN, "opened_at": now,
                  "updated_at": now, "resolved_at": None, "synced": False}
        with self.engine.begin() as conn:
            key = (_c.repo == repo) & (_c.key == alert.key)
            if conn.execute(alerts.update().where(key).values(**values)).rowcount == 0:
                conn.execute(alerts.insert().values(repo=repo, key=alert.key, **values))

    def updated(self, repo: str, alert: Alert, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(alerts.update().where((_c.repo == repo) & (_c.key == alert.key))
                         .values(title=alert.title, body=alert.body, updated_at=now, synced=False))

    def resolved(self, repo: str, key: str, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(alerts.update().where((_c.repo == repo) & (_c.key == key))
                         .values(state=RESOLVED, resolved_at=now, updated_at=now, synced=False))

    def synced(self, repo: str, key: str, issue_number: int | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(alerts.update().where((_c.repo == repo) & (_c.key == key))
                         .values(synced=True, issue_number=issue_number))
