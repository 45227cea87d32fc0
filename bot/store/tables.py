"""The bot's tables (SQLAlchemy Core). The schema itself is created by the Alembic migrations in
bot/store/migrations; a test checks that these definitions and the migrations agree.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite stores them naive, as UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: pass timezone-aware UTC times")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# Status of a delivery: pending (waiting or being handled: see the lease), done, failed (gave up).
PENDING, DONE, FAILED = "pending", "done", "failed"

deliveries = sa.Table(
    "deliveries",
    metadata,
    # The autoincrement id is the received order; a repository's deliveries are handled by it.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(100), nullable=False),
    sa.Column("event", sa.String(100), nullable=False),
    sa.Column("action", sa.String(100), nullable=True),
    sa.Column("repo", sa.String(255), nullable=True),
    sa.Column("installation_id", sa.BigInteger(), nullable=True),
    # The ordering key: the repository, or installation:<id> / global for events without one.
    sa.Column("serial_key", sa.String(255), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default=PENDING),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("processed_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.UniqueConstraint("delivery_id", name="uq_deliveries_delivery_id"),
    sa.Index("ix_deliveries_status_key_id", "status", "serial_key", "id"),
    sa.Index("ix_deliveries_repo", "repo"),
)

# The payload lives apart from the delivery's small, often-updated row: SQLite rewrites a whole row
# (a 25 KB payload included) on every update, and a delivery's row is updated twice when handled.
delivery_payloads = sa.Table(
    "delivery_payloads",
    metadata,
    sa.Column("delivery_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
              sa.ForeignKey("deliveries.id", ondelete="CASCADE", name="fk_delivery_payloads_delivery"),
              primary_key=True, autoincrement=False),
    sa.Column("payload", sa.JSON(), nullable=False),
)

# The coalescing queue: one row per PR waiting to be re-evaluated.
evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    # Start of the current burst: due_at never moves past first_requested_at + max wait.
    sa.Column("first_requested_at", UTCDateTime(), nullable=True),
    # Bumped by every request, so a request that arrives during an evaluation is not lost.
    sa.Column("generation", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Index("ix_evaluations_due_at", "due_at"),
)

report_comments = sa.Table(
    "report_comments",
    metadata,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("comment_id", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Per-repository (serial key) lock rows: one worker, in any process, drains a key at a time.
key_locks = sa.Table(
    "key_locks",
    metadata,
    sa.Column("serial_key", sa.String(255), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
)

# Repositories the bot knows (for the periodic resync).
repositories = sa.Table(
    "repositories",
    metadata,
    sa.Column("repo", sa.String(255), primary_key=True),
    sa.Column("installation_id", sa.BigInteger(), nullable=True),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_resync_at", UTCDateTime(), nullable=True),
    sa.Column("resync_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
)
