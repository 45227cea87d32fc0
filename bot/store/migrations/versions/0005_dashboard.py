"""What the dashboard and the alerts need that the bot did not keep: gate results per commit, review
verdicts per PR head, the merge queue's builds and PR events over time, and the alerts with their GitHub issue.

Revision ID: 0005_dashboard
Revises: 0004_pull_heads
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_dashboard"
down_revision = "0004_pull_heads"
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # who asked for a deployment (/deploy, /rollback); NULL: the bot itself
    with op.batch_alter_table("deploy_records") as batch:
        batch.add_column(sa.Column("requested_by", sa.String(255), nullable=True))
    op.create_table(
        "gate_runs",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("sha", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("conclusion", sa.String(32), nullable=True),
        sa.Column("app", sa.String(255), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("results", sa.JSON(), nullable=True),
        sa.Column("recorded_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "pull_reviews",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sha", sa.String(64), primary_key=True),
        sa.Column("conclusion", sa.String(32), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "queue_builds",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("build_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("base", sa.String(255), nullable=False),
        sa.Column("pulls", sa.JSON(), nullable=False),
        sa.Column("sha", sa.String(64), nullable=True),
        sa.Column("requested_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_table(
        "queue_events",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
    )
    op.create_index("ix_queue_events_repo_number", "queue_events", ["repo", "number", "id"])
    op.create_table(
        "alerts",
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


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_index("ix_queue_events_repo_number", table_name="queue_events")
    op.drop_table("queue_events")
    op.drop_table("queue_builds")
    op.drop_table("pull_reviews")
    op.drop_table("gate_runs")
    with op.batch_alter_table("deploy_records") as batch:
        batch.drop_column("requested_by")
