"""store enrolment: one-time tokens, device keys, retirement; expiring API tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "store_enrolments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("replace", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device_key", sa.String(length=64), nullable=True),
        sa.Column("hardware", sa.JSON(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bundle", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_enrolments")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_store_enrolments_token_hash")),
    )
    op.create_index(op.f("ix_store_enrolments_store_id"), "store_enrolments", ["store_id"], unique=False)
    with op.batch_alter_table("stores") as batch:
        batch.add_column(sa.Column("agent_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("stores") as batch:
        batch.drop_column("retired_at")
        batch.drop_column("enrolled_at")
        batch.drop_column("agent_key")
    op.drop_index(op.f("ix_store_enrolments_store_id"), table_name="store_enrolments")
    op.drop_table("store_enrolments")
