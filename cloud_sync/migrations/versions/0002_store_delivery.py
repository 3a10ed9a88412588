"""store delivery progress (end-to-end acknowledgements) and the events' (store, seq) index

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "store_delivery",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("committed_through", sa.BigInteger(), nullable=False),
        sa.Column("max_seq", sa.BigInteger(), nullable=False),
        sa.Column("gap_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_store_delivery")),
    )
    op.create_index("ix_events_store_seq", "events", ["store_id", "seq"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_events_store_seq", table_name="events")
    op.drop_table("store_delivery")
