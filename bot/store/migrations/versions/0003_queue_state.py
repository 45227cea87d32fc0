"""Merge queue state: one JSON document per repository (bot/queue/model.py's QueueState), with a version
for optimistic concurrency and the next time the queue needs a Tick.

Revision ID: 0003_queue_state
Revises: 0002_deployments (chained after it: one head)
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_queue_state"
down_revision = "0002_deployments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_state",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("config_branch", sa.String(255), nullable=True),
        sa.Column("wakeup_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_queue_state_wakeup_at", "queue_state", ["wakeup_at"])


def downgrade() -> None:
    op.drop_index("ix_queue_state_wakeup_at", table_name="queue_state")
    op.drop_table("queue_state")
