"""shoppers: contacts, one-time codes, sessions, phones and top-ups of the phone app; promotions on sales

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _members_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f(f"fk_{table}_member_id_members"))


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "shopper_contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _members_fk("shopper_contacts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopper_contacts")),
        sa.UniqueConstraint("address", name=op.f("uq_shopper_contacts_address")),
    )
    op.create_index(op.f("ix_shopper_contacts_member_id"), "shopper_contacts", ["member_id"], unique=False)
    op.create_table(
        "shopper_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopper_codes")),
    )
    op.create_index("ix_shopper_codes_address_created", "shopper_codes", ["address", "created_at"], unique=False)
    op.create_index("ix_shopper_codes_client_created", "shopper_codes", ["client", "created_at"], unique=False)
    op.create_table(
        "shopper_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        _members_fk("shopper_sessions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopper_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_shopper_sessions_token_hash")),
    )
    op.create_index(op.f("ix_shopper_sessions_member_id"), "shopper_sessions", ["member_id"], unique=False)
    op.create_table(
        "shopper_phones",
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("phone_key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        _members_fk("shopper_phones"),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_shopper_phones")),
    )
    op.create_table(
        "shopper_topups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_ref", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _members_fk("shopper_topups"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopper_topups")),
    )
    op.create_index(op.f("ix_shopper_topups_member_id"), "shopper_topups", ["member_id"], unique=False)
    with op.batch_alter_table("sales") as batch:
        batch.add_column(sa.Column("promotion_ids", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("promotion_discount_cents", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("sales") as batch:
        batch.drop_column("promotion_discount_cents")
        batch.drop_column("promotion_ids")
    op.drop_index(op.f("ix_shopper_topups_member_id"), table_name="shopper_topups")
    op.drop_table("shopper_topups")
    op.drop_table("shopper_phones")
    op.drop_index(op.f("ix_shopper_sessions_member_id"), table_name="shopper_sessions")
    op.drop_table("shopper_sessions")
    op.drop_index("ix_shopper_codes_client_created", table_name="shopper_codes")
    op.drop_index("ix_shopper_codes_address_created", table_name="shopper_codes")
    op.drop_table("shopper_codes")
    op.drop_index(op.f("ix_shopper_contacts_member_id"), table_name="shopper_contacts")
    op.drop_table("shopper_contacts")
