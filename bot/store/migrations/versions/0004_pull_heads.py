"""Pull request heads the bot has seen, with when: what a `/merge` comment approves is the head as
of the comment (bot/commands/approval.py, bot/commands/heads.py).

Revision ID: 0004_pull_heads
Revises: 0003_queue_state
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_pull_heads"
down_revision = "0003_queue_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pull_heads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_index("ix_pull_heads_repo_number_id", "pull_heads", ["repo", "number", "id"])


def downgrade() -> None:
    op.drop_index("ix_pull_heads_repo_number_id", table_name="pull_heads")
    op.drop_table("pull_heads")
