"""wallet entries name the sale they charge: at most one charge per (store, sale)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision (entries written before it carry no sale id)."""
    with op.batch_alter_table("wallet_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sale_id", sa.Uuid(), nullable=True))
        batch_op.create_unique_constraint("uq_wallet_entries_sale", ["store_id", "sale_id"])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("wallet_entries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_wallet_entries_sale", type_="unique")
        batch_op.drop_column("sale_id")
