"""Request and response models of the REST API (validated strictly: bad input is a 4xx)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    WithJsonSchema,
    model_validator,
)

from cloud_sync.services.tokens import Role
from contracts.member_code import is_usable_phone_key
from contracts.messages import JsonInteger, iso_date_time

MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TS = datetime(2100, 1, 1, tzinfo=UTC)


def _utc_in_range(value: datetime) -> datetime:
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError) as err:
        raise ValueError("timestamp out of range") from err
    if not MIN_TS <= value < MAX_TS:
        raise ValueError("timestamp must be between 2000-01-01 and 2100-01-01 (UTC)")
    return value


Timestamp = Annotated[datetime, BeforeValidator(iso_date_time), AfterValidator(_utc_in_range)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
StoreId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
Text = Annotated[str, Field(max_length=300, pattern=r"^[^\x00]*$")]
Cents = Annotated[int, Field(ge=0, le=100_000_000), JsonInteger]
PositiveCents = Annotated[int, Field(ge=1, le=100_000_000), JsonInteger]
Quantity = Annotated[int, Field(ge=1, le=1_000_000), JsonInteger]
Grams = Annotated[StrictFloat, Field(ge=0, le=100_000)]  # a JSON integer is a number too
Barcode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]{1,64}$")]


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Stockholm)") from err
    return name


TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


def _usable_phone_key(value: str) -> str:
    if not is_usable_phone_key(bytes.fromhex(value)):
        raise ValueError("not a usable Ed25519 public key (small order or not a curve point)")
    return value


PhoneKeyHex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# A key a pass is issued to must also be a prime-order curve point (revoking any key is a lookup).
UsablePhoneKeyHex = Annotated[PhoneKeyHex, AfterValidator(_usable_phone_key)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of results."""

    items: list[T]
    total: int
    limit: int
    offset: int


# ----------------------------------------------------------------------------- tokens


class TokenIn(_In):
    """Create an API token."""

    name: Name
    role: Role
    store_id: StoreId | None = Field(default=None, description="Device tokens may be bound to one store.")


class TokenOut(_Out):
    """A token without its secret."""

    id: int
    name: str
    role: str
    store_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    """A new token: ``token`` is shown this once, only its hash is stored."""

    token: str


# ----------------------------------------------------------------------------- stores


class StoreIn(_In):
    """Register a store."""

    id: StoreId
    name: Name
    address: Text = ""


class StorePatch(_In):
    """Change a store's name or address."""

    name: Name | None = None
    address: Text | None = None
    time_zone: TimeZone | None = None


class StoreOut(_Out):
    """A store and what its agent last reported."""

    id: str
    name: str
    address: str
    registered: bool
    online: bool
    availability_at: datetime | None
    last_seen_at: datetime | None
    mode: str | None
    lockdown: bool
    door: str | None
    lock: str | None
    occupancy: int | None
    occupancy_cap: int | None
    door_alarms: list[str] | None
    door_state_at: datetime | None
    time_zone: str


# Described without ``prefixItems``: schemathesis reads that OpenAPI 3.1 keyword as a draft-4 ``items`` array.
SeqRange = Annotated[
    tuple[int, int],
    WithJsonSchema({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}),
]


class DeliveryOut(BaseModel):
    """How far the cloud holds a store's events, and what its agent says is still waiting."""

    store_id: str
    committed_through: int = Field(description="Every event of the store up to this seq is committed.")
    max_seq: int = Field(description="The highest seq committed.")
    gap_since: datetime | None = Field(description="When the oldest open gap opened (None: no gap).")
    missing: list[SeqRange] = Field(description="Up to 100 (first, last) seq ranges not received.")
    agent: dict[str, Any] | None = Field(description="The agent's last `state/delivery`: pending, oldest age...")


class StockLine(_In):
    """A quantity of one product (units, or grams if sold by weight)."""

    product_id: Ident
    quantity: Quantity


class RestockIn(_In):
    """Stock added to a store."""

    lines: list[StockLine] = Field(min_length=1, max_length=500)
    reference: Ident | None = Field(default=None, description="Idempotency key (e.g. delivery note).")


class InventoryRow(BaseModel):
    """Stock of one product in one store."""

    store_id: str
    product_id: str
    name: str | None
    on_hand: int
    reserved: int
    available: int
    threshold: int
    low: bool


# ---------------------------------------------------------------------------- members


class MemberIn(_In):
    """Register a member."""

    id: Ident | None = None
    name: Name
    tier: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] = "standard"
    phone: Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9 ]{3,31}$")] | None = None


class MemberOut(_Out):
    """A member and their wallet balance."""

    id: str
    name: str
    tier: str
    phone: str | None
    created_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    balance_cents: int


class PassIn(_In):
    """Issue a member pass to a phone's Ed25519 public key (raw 32 bytes as 64 hex chars)."""

    phone_public_key: UsablePhoneKeyHex
    valid_s: Annotated[int, Field(ge=60, le=24 * 3600), JsonInteger] = 24 * 3600


class PassOut(BaseModel):
    """A signed pass: ``signed_pass_b64`` is what the phone app stores."""

    member_id: str
    kid: str
    signed_pass_b64: str
    not_before: datetime
    expires_at: datetime


class RevokeIn(_In):
    """Revoke a member entirely, or only one of their phone keys."""

    reason: Text = ""
    phone_key: PhoneKeyHex | None = None


class TopUpIn(_In):
    """Add money to a member's wallet (idempotent on ``reference``)."""

    amount_cents: PositiveCents
    reference: Ident


class WalletEntryOut(_Out):
    """One wallet movement."""

    id: int
    amount_cents: int
    kind: str
    reference: str
    balance_after: int
    store_id: str | None
    created_at: datetime


class WalletOut(BaseModel):
    """Balance and recent movements."""

    member_id: str
    balance_cents: int
    entries: Page[WalletEntryOut]


class IssuerKeyOut(BaseModel):
    """A pass-signing key (public part only)."""

    kid: str
    public_key_b64: str
    created_at: datetime
    retired_at: datetime | None


# ---------------------------------------------------------------------------- catalog


# The item digits of the store's weight/price-embedded scale labels (PLU), e.g. 12345 in 2112345004128.
ItemCode = Annotated[str, Field(pattern=r"^[0-9]{1,8}$")]


class ProductIn(_In):
    """Create a product: ``price_cents`` per unit, or ``price_per_kg_cents`` if sold by weight."""

    id: Ident
    name: Name
    barcodes: list[Barcode] = Field(default_factory=list, max_length=20)
    unit_weight_g: Grams | None = None
    weight_tolerance_g: Grams | None = None
    sold_by_weight: StrictBool = False
    price_cents: Cents | None = None
    price_per_kg_cents: Cents | None = None
    low_stock_threshold: Annotated[int, Field(ge=0, le=1_000_000), JsonInteger] | None = None
    item_code: ItemCode | None = None

    @model_validator(mode="after")
    def _price_matches_kind(self) -> ProductIn:
        if self.sold_by_weight and self.price_per_kg_cents is None:
            raise ValueError("a product sold by weight needs price_per_kg_cents")
        if not self.sold_by_weight and self.price_cents is None:
            raise ValueError("a product sold per unit needs price_cents")
        if len(set(self.barcodes)) != len(self.barcodes):
            raise ValueError("barcodes must be unique")
        return self


class ProductPatch(_In):
    """Change product fields (prices change through ``/prices``)."""

    name: Name | None = None
    barcodes: list[Barcode] | None = Field(default=None, max_length=20)
    unit_weight_g: Grams | None = None
    weight_tolerance_g: Grams | None = None
    low_stock_threshold: Annotated[int, Field(ge=0, le=1_000_000), JsonInteger] | None = None
    active: StrictBool | None = None
    item_code: ItemCode | None = None


class ProductOut(BaseModel):
    """A product with its current price and scheduled changes."""

    id: str
    name: str
    barcodes: list[str]
    unit_weight_g: float | None
    weight_tolerance_g: float | None
    sold_by_weight: bool
    price_cents: int | None
    price_per_kg_cents: int | None
    low_stock_threshold: int | None
    active: bool
    image_ids: list[int] = Field(default_factory=list)
    item_code: str | None = None


class PriceIn(_In):
    """A new price effective from ``effective_from`` (default now)."""

    price_cents: Cents | None = None
    price_per_kg_cents: Cents | None = None
    effective_from: Timestamp | None = None

    @model_validator(mode="after")
    def _one_price(self) -> PriceIn:
        if (self.price_cents is None) == (self.price_per_kg_cents is None):
            raise ValueError("give exactly one of price_cents or price_per_kg_cents")
        return self


class PriceOut(_Out):
    """A recorded price change."""

    id: int
    product_id: str
    price_cents: int | None
    price_per_kg_cents: int | None
    effective_from: datetime
    created_at: datetime


class PromotionIn(_In):
    """A promotion on products between two times."""

    id: Ident
    name: Name
    product_ids: list[Ident] = Field(min_length=1, max_length=500)
    kind: Literal["percent", "amount"]
    value: Annotated[int, Field(ge=1, le=100_000_000), JsonInteger]
    min_quantity: Annotated[int, Field(ge=1, le=1000), JsonInteger] = 1
    effective_from: Timestamp
    effective_until: Timestamp | None = None

    @model_validator(mode="after")
    def _check(self) -> PromotionIn:
        if self.kind == "percent" and self.value > 100:
            raise ValueError("a percent promotion is 1-100")
        if self.effective_until is not None and self.effective_until <= self.effective_from:
            raise ValueError("effective_until must be after effective_from")
        return self


class PromotionOut(_Out):
    """A promotion."""

    id: str
    name: str
    product_ids: list[str]
    kind: str
    value: int
    min_quantity: int
    effective_from: datetime
    effective_until: datetime | None
    active: bool


class ImageOut(_Out):
    """An enrolment image's metadata."""

    id: int
    product_id: str
    content_type: str
    created_at: datetime


# ---------------------------------------------------------------------------- coupons


class CouponIn(_In):
    """Issue a coupon bound to a member."""

    id: Ident | None = None
    member_id: Ident
    kind: Literal["percent", "amount"]
    value: Annotated[int, Field(ge=1, le=100_000_000), JsonInteger]
    min_total_cents: Cents = 0
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None

    @model_validator(mode="after")
    def _check(self) -> CouponIn:
        if self.kind == "percent" and self.value > 100:
            raise ValueError("a percent coupon is 1-100")
        if self.valid_until is not None and self.valid_from is not None and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class CouponOut(_Out):
    """A coupon and its redemption."""

    id: str
    member_id: str
    kind: str
    value: int
    min_total_cents: int
    valid_from: datetime
    valid_until: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    redeemed_at: datetime | None
    redeemed_sale_id: uuid.UUID | None
    redeemed_store_id: str | None


# ----------------------------------------------------------------------------- orders


class OrderIn(_In):
    """Reserve products in a store for pickup; paid from the wallet now."""

    store_id: StoreId
    member_id: Ident
    lines: list[StockLine] = Field(min_length=1, max_length=100)
    pickup_by: Timestamp | None = None


class OrderLineOut(_Out):
    """One line of an order."""

    product_id: str
    quantity: int
    unit_price_cents: int


class OrderOut(BaseModel):
    """A click-and-collect order."""

    id: uuid.UUID
    store_id: str
    member_id: str
    status: str
    total_cents: int
    created_at: datetime
    pickup_by: datetime
    collected_at: datetime | None
    closed_at: datetime | None
    lines: list[OrderLineOut]


class CollectIn(_In):
    """Hand an order over: the member who showed their code at the door."""

    member_id: Ident


# --------------------------------------------------------------------------- activity


class EntryOut(_Out):
    """A door decision."""

    event_id: uuid.UUID
    store_id: str
    door_id: str
    ts: datetime
    member_id: str | None
    granted: bool
    reason: str | None
    via: str | None


class SaleOut(_Out):
    """A completed sale."""

    sale_id: uuid.UUID
    event_id: uuid.UUID
    store_id: str
    station_id: str
    member_id: str
    ts: datetime
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    payment_mode: str
    authorization_id: str | None
    coupon_ids: list[str]
    lines: list[dict[str, Any]]


class AlertOut(_Out):
    """An alert raised by the cloud."""

    id: int
    store_id: str | None
    kind: str
    severity: str
    message: str
    details: dict[str, Any]
    created_at: datetime
    resolved_at: datetime | None


class EventOut(_Out):
    """A stored event (``payload`` is the JSON as received)."""

    event_id: uuid.UUID
    store_id: str
    type: str
    ts: datetime
    seq: int
    ingested_at: datetime
    payload: str


class DeadLetterOut(BaseModel):
    """A refused message."""

    id: int
    received_at: datetime
    topic: str
    store_id: str | None
    reason: str
    payload_preview: str


class PaymentOut(_Out):
    """An online payment authorisation."""

    request_id: uuid.UUID
    store_id: str
    member_id: str
    sale_id: uuid.UUID
    amount_cents: int
    status: str
    reason: str
    authorization_id: str | None
    balance_cents: int | None
    created_at: datetime


class SyncOut(BaseModel):
    """Pull answer: deltas after ``since``, or a snapshot when deltas cannot bridge the gap."""

    channel: str
    version: int
    since: int
    snapshot: dict[str, Any] | None = None
    deltas: list[dict[str, Any]] = Field(default_factory=list)
