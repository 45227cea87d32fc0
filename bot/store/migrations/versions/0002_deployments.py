"""Deployments: landed versions and the bot's GitHub deployments with their latest status.

Revision ID: 0002_deployments
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_deployments"
down_revision = "0001"
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deploy_versions",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("version", sa.JSON(), nullable=False),
        sa.Column("landed_at", TS, nullable=False),
    )
    op.create_index("ix_deploy_versions_repo_id", "deploy_versions", ["repo", "id"])
    op.create_table(
        "deploy_records",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("deployment_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("environment", sa.String(255), nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("rollback_of", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deploy_records")
    op.drop_index("ix_deploy_versions_repo_id", table_name="deploy_versions")
    op.drop_table("deploy_versions")
