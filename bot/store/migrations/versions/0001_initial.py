"""Initial schema: deliveries inbox (payloads apart), coalescing evaluations, report comments, key locks, repositories.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("action", sa.String(100), nullable=True),
        sa.Column("repo", sa.String(255), nullable=True),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("serial_key", sa.String(255), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("processed_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("delivery_id", name="uq_deliveries_delivery_id"),
    )
    op.create_index("ix_deliveries_status_key_id", "deliveries", ["status", "serial_key", "id"])
    op.create_index("ix_deliveries_repo", "deliveries", ["repo"])

    op.create_table(
        "delivery_payloads",
        sa.Column("delivery_pk", BIGINT_ID,
                  sa.ForeignKey("deliveries.id", ondelete="CASCADE", name="fk_delivery_payloads_delivery"),
                  primary_key=True, autoincrement=False),
        sa.Column("payload", sa.JSON(), nullable=False),
    )

    op.create_table(
        "evaluations",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("first_requested_at", TS, nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_evaluations_due_at", "evaluations", ["due_at"])

    op.create_table(
        "report_comments",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("comment_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )

    op.create_table(
        "key_locks",
        sa.Column("serial_key", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("lease_until", TS, nullable=True),
    )

    op.create_table(
        "repositories",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("installation_id", sa.BigInteger(), nullable=True),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_resync_at", TS, nullable=True),
        sa.Column("resync_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("repositories")
    op.drop_table("key_locks")
    op.drop_table("report_comments")
    op.drop_index("ix_evaluations_due_at", table_name="evaluations")
    op.drop_table("evaluations")
    op.drop_table("delivery_payloads")
    op.drop_index("ix_deliveries_repo", table_name="deliveries")
    op.drop_index("ix_deliveries_status_key_id", table_name="deliveries")
    op.drop_table("deliveries")
