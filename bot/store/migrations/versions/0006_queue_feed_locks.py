"""Who is feeding each repository's merge queue, with a lease: a worker that dies between saving a
queue step and carrying out its actions leaves its lease behind, and a live worker's tick resumes
that queue once the lease has expired (bot/queue/runner.py, docs/bot-operations.md).

Revision ID: 0006_queue_feed_locks
Revises: 0005_dashboard
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_queue_feed_locks"
down_revision = "0005_dashboard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_feed_locks",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
    )
    op.create_index("ix_queue_feed_locks_lease_until", "queue_feed_locks", ["lease_until"])


def downgrade() -> None:
    op.drop_index("ix_queue_feed_locks_lease_until", table_name="queue_feed_locks")
    op.drop_table("queue_feed_locks")
