"""item codes: the PLU digits of a product's weight/price-embedded scale labels

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("item_code", sa.String(length=8), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_products_item_code"), ["item_code"])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_products_item_code"), type_="unique")
        batch_op.drop_column("item_code")
