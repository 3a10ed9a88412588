"""ORM models of the cloud database (money in integer cents, times in aware UTC)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from cloud_sync.db.base import Base, utcnow

ID = 64


class ApiToken(Base):
    """An API token; only the SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    store_id: Mapped[str | None] = mapped_column(String(ID), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class Store(Base):
    """A store and what its agent last reported (availability, door state)."""

    __tablename__ = "stores"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    registered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    availability_at: Mapped[datetime | None] = mapped_column(default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    mode: Mapped[str | None] = mapped_column(String(16), default=None)
    mode_at: Mapped[datetime | None] = mapped_column(default=None)
    lockdown: Mapped[bool] = mapped_column(Boolean, default=False)
    door: Mapped[str | None] = mapped_column(String(16), default=None)
    lock: Mapped[str | None] = mapped_column(String(16), default=None)
    occupancy: Mapped[int | None] = mapped_column(Integer, default=None)
    occupancy_cap: Mapped[int | None] = mapped_column(Integer, default=None)
    door_alarms: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    door_state_at: Mapped[datetime | None] = mapped_column(default=None)
    # The enrolled agent's public key (hex); None before enrolment and after retirement.
    agent_key: Mapped[str | None] = mapped_column(String(64), default=None)
    enrolled_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)
    # IANA zone the dashboard shows the store's times in (the zone is named beside every time).
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")


class StoreEnrolment(Base):
    """One enrolment of an agent: a hashed one-time token, then a claimed device key to confirm.

    ``state``: issued -> claimed -> confirmed -> delivered, or burnt (too many wrong pairing
    codes) / cancelled (a newer enrolment for the store). ``bundle`` holds the agent's secrets
    only between confirmation and collection.
    """

    __tablename__ = "store_enrolments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(ID), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="issued")
    replace: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    device_key: Mapped[str | None] = mapped_column(String(64), default=None)
    hardware: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    bundle: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class StoreState(Base):
    """The last retained ``state/{name}`` JSON of a store (door, mode, devices, outbox...)."""

    __tablename__ = "store_states"

    store_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoreDevice(Base):
    """Status of one device of a store (from retained ``state/device-{name}``)."""

    __tablename__ = "store_devices"

    store_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    device: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    ts: Mapped[datetime] = mapped_column(default=utcnow)


class StoreSync(Base):
    """The downlink version a store reported applied (``sync_applied``), per channel."""

    __tablename__ = "store_sync"

    store_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """Every accepted event, once (primary key ``event_id`` makes ingest idempotent)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_store_ts", "store_id", "ts"),
        Index("ix_events_type_ts", "type", "ts"),
        Index("ix_events_store_seq", "store_id", "seq"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(ID))
    type: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime]
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    payload: Mapped[str] = mapped_column(Text)
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoreDelivery(Base):
    """How far the cloud holds every event of a store: the base of its delivery acknowledgements.

    ``committed_through`` is the highest sequence number up to which every event of the store is
    committed; ``max_seq`` the highest seen; ``gap_since`` when a gap between the two opened.
    """

    __tablename__ = "store_delivery"

    store_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    committed_through: Mapped[int] = mapped_column(BigInteger, default=0)
    max_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    gap_since: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadLetter(Base):
    """A message the ingest worker refused, with the reason; never silently dropped."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    topic: Mapped[str] = mapped_column(Text)
    store_id: Mapped[str | None] = mapped_column(String(ID), default=None)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)


class Entry(Base):
    """A door decision (``access_granted`` / ``access_denied``)."""

    __tablename__ = "entries"
    __table_args__ = (Index("ix_entries_store_ts", "store_id", "ts"),)

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(ID))
    door_id: Mapped[str] = mapped_column(String(128))
    ts: Mapped[datetime]
    member_id: Mapped[str | None] = mapped_column(String(ID), default=None, index=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    via: Mapped[str | None] = mapped_column(String(32), default=None)


class Alarm(Base):
    """Current state of one store alarm (``alarm`` from ``source``); the newest event wins.

    Raise and clear events may be written out of order (parallel batches, several workers), so
    each upsert only applies if its event is newer by (``ts``, ``seq``) than the one recorded.
    The full history stays in ``events``.
    """

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_active", "active", "store_id"),)

    store_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    alarm: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    detail: Mapped[str] = mapped_column(Text, default="")
    raised_at: Mapped[datetime | None] = mapped_column(default=None)
    cleared_at: Mapped[datetime | None] = mapped_column(default=None)
    event_ts: Mapped[datetime]
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Who acknowledged the current raise, and when; a newer raise clears both.
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)


class Alert(Base):
    """Something the cloud detected that an operator must look at (reconciliation, stock)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    store_id: Mapped[str | None] = mapped_column(String(ID), default=None, index=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)


class Member(Base):
    """A member; ``balance_cents`` is the wallet (may go negative after offline sales)."""

    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(32), default="standard")
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str | None] = mapped_column(Text, default=None)
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class MemberPhoneKey(Base):
    """A pass issued to a member's phone key; revoking the key refuses its codes."""

    __tablename__ = "member_passes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    phone_key: Mapped[str] = mapped_column(String(64), index=True)
    kid: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class WalletEntry(Base):
    """One wallet movement (positive top-up/refund, negative charge).

    A charge for a sale (online authorisation or offline sale) names it in ``sale_id``: the
    unique (``store_id``, ``sale_id``) makes the database refuse a second charge for one sale,
    whichever path or worker writes it.
    """

    __tablename__ = "wallet_entries"
    __table_args__ = (
        UniqueConstraint("member_id", "kind", "reference", name="uq_wallet_entries_ref"),
        UniqueConstraint("store_id", "sale_id", name="uq_wallet_entries_sale"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(100))
    balance_after: Mapped[int] = mapped_column(BigInteger)
    store_id: Mapped[str | None] = mapped_column(String(ID), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sale_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


class Payment(Base):
    """An online payment authorisation (idempotent on ``request_id``)."""

    __tablename__ = "payments"

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    store_id: Mapped[str] = mapped_column(String(ID))
    member_id: Mapped[str] = mapped_column(String(ID), index=True)
    sale_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    coupon_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    authorization_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    balance_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IssuerKeyRow(Base):
    """A member-pass signing key (private key kept server-side only)."""

    __tablename__ = "issuer_keys"

    kid: Mapped[str] = mapped_column(String(16), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)
    public_b64: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class Product(Base):
    """A catalog product (price per unit, or per kg when sold by weight)."""

    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_weight_g: Mapped[float | None] = mapped_column(Float, default=None)
    weight_tolerance_g: Mapped[float | None] = mapped_column(Float, default=None)
    sold_by_weight: Mapped[bool] = mapped_column(Boolean, default=False)
    price_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    price_per_kg_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    item_code: Mapped[str | None] = mapped_column(String(8), unique=True, default=None)  # scale-label PLU
    low_stock_threshold: Mapped[int | None] = mapped_column(BigInteger, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductBarcode(Base):
    """A barcode identifying one product."""

    __tablename__ = "product_barcodes"

    barcode: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)


class ProductImage(Base):
    """An enrolment image of a product (optional; for the vision model)."""

    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PriceChange(Base):
    """A price that takes effect at ``effective_from``."""

    __tablename__ = "price_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    price_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    price_per_kg_cents: Mapped[int | None] = mapped_column(BigInteger, default=None)
    effective_from: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromotionRow(Base):
    """A promotion on some products between two times."""

    __tablename__ = "promotions"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    product_ids: Mapped[list[str]] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(BigInteger)
    min_quantity: Mapped[int] = mapped_column(Integer, default=1)
    effective_from: Mapped[datetime]
    effective_until: Mapped[datetime | None] = mapped_column(default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouponRow(Base):
    """A coupon bound to a member, redeemable once."""

    __tablename__ = "coupons"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(BigInteger)
    min_total_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    redeemed_at: Mapped[datetime | None] = mapped_column(default=None)
    redeemed_sale_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    redeemed_store_id: Mapped[str | None] = mapped_column(String(ID), default=None)


class Sale(Base):
    """A completed checkout (from ``sale_completed``), once per ``sale_id``."""

    __tablename__ = "sales"
    __table_args__ = (Index("ix_sales_store_ts", "store_id", "ts"),)

    sale_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    store_id: Mapped[str] = mapped_column(String(ID))
    station_id: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[str] = mapped_column(String(ID), index=True)
    ts: Mapped[datetime]
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)
    discount_cents: Mapped[int] = mapped_column(BigInteger)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    payment_mode: Mapped[str] = mapped_column(String(16))
    authorization_id: Mapped[str | None] = mapped_column(String(64), default=None)
    coupon_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    promotion_ids: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    promotion_discount_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class StockMovement(Base):
    """A change of stock of one product in one store (units, or grams if sold by weight)."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_store_product", "store_id", "product_id"),
        UniqueConstraint("reason", "reference", name="uq_stock_movements_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    store_id: Mapped[str] = mapped_column(String(ID))
    product_id: Mapped[str] = mapped_column(String(ID))
    quantity: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    """A click-and-collect order: stock reserved in a store, prepaid from the wallet."""

    __tablename__ = "orders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="reserved", index=True)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    pickup_by: Mapped[datetime]
    collected_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class OrderLine(Base):
    """One product of an order."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[str] = mapped_column(String(ID))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)


class SyncChannel(Base):
    """The current version of one downlink channel."""

    __tablename__ = "sync_channels"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class SyncChange(Base):
    """One downlink delta (``version`` follows ``version - 1`` of its channel)."""

    __tablename__ = "sync_changes"
    __table_args__ = (UniqueConstraint("channel", "version", name="uq_sync_changes_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OperatorCommand(Base):
    """A command an operator sent to a store, and the store's reply.

    ``status``: ``sent`` until the store answers (``ok``, ``error``, ``rejected``, ``expired``),
    or ``unanswered`` once the command's lifetime has passed without a reply.
    """

    __tablename__ = "operator_commands"
    __table_args__ = (Index("ix_operator_commands_store", "store_id", "issued_at"),)

    correlation_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    store_id: Mapped[str] = mapped_column(String(ID))
    name: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="sent")
    reply_error: Mapped[str | None] = mapped_column(Text, default=None)
    reply_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    replied_at: Mapped[datetime | None] = mapped_column(default=None)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)


class AuditEntry(Base):
    """Who did what through the API or the CLI (commands, acknowledgements, retirements)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[str | None] = mapped_column(String(ID), default=None, index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Notification(Base):
    """One alarm or alert to deliver to the operator's webhook; ``dedupe_key`` makes it once per occurrence.

    ``status``: ``pending`` (``next_attempt_at`` says when), ``delivered`` or ``failed`` (gave up
    after the configured attempts).
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    store_id: Mapped[str | None] = mapped_column(String(ID), default=None)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


from cloud_sync.db import shopper_models as shopper_models  # noqa: E402 - registers the shopper tables
from cloud_sync.db import staff_models as staff_models  # noqa: E402 - registers the staff table
