"""ORM models of the shopper's phone app: contacts (PII), one-time codes, sessions, phones, top-ups.

The contact lives only here, keyed to the member's opaque id; nothing in these tables is synced
to stores. Codes and session tokens are stored as SHA-256 digests, never in clear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud_sync.db.base import Base, utcnow

ID = 64


class ShopperContact(Base):
    """The e-mail address or phone number a member signs in with (normalised, unique)."""

    __tablename__ = "shopper_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(String(254), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShopperCode(Base):
    """A one-time sign-in code sent to a contact: hashed, short-lived, a few attempts."""

    __tablename__ = "shopper_codes"
    __table_args__ = (
        Index("ix_shopper_codes_address_created", "address", "created_at"),
        Index("ix_shopper_codes_client_created", "client", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(254))
    client: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class ShopperSession(Base):
    """A signed-in phone browser: the cookie's token as SHA-256, until ``expires_at``."""

    __tablename__ = "shopper_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class ShopperPhone(Base):
    """The one phone that holds a member's pass: its public key, label and since when."""

    __tablename__ = "shopper_phones"

    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), primary_key=True)
    phone_key: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShopperTopUp(Base):
    """A wallet top-up asked of the payment provider, approved or declined."""

    __tablename__ = "shopper_topups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(100), default=None)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
