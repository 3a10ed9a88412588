"""Cloud-to-store downlink payloads: versioned snapshots and deltas (see docs/adr/0004-downlink-sync.md).

The cloud keeps one monotonically increasing ``version`` per *channel*:

- ``catalog``: products (barcodes, expected weight, prices), scheduled price changes, promotions.
- ``revocations``: revoked member ids and revoked phone keys (doors must refuse them).
- ``coupons``: coupons bound to members that are still redeemable.
- ``keys``: the issuer public keys that sign member passes.
- ``staff``: staff members with their roles, schedules and hashed cards/PINs (``contracts.staff``).

Topics, all under ``smartstore/v1/{store_id}/sync/`` (QoS 1; entries ``sync.*`` of ``contracts.topics.TOPIC_MAP``):

- ``manifest`` (retained): :class:`SyncManifest`, the current version of every channel.
- ``{channel}/snapshot`` (retained): the full state of the channel at ``version``
  (:class:`CatalogSnapshot`, :class:`RevocationList`, :class:`CouponList`, :class:`IssuerKeys`).
- ``{channel}/delta`` (not retained): one change, from ``from_version`` to ``version``
  (:class:`CatalogDelta`, :class:`RevocationDelta`, :class:`CouponDelta`, :class:`StaffDelta`; the ``keys`` channel
  sends its full :class:`IssuerKeys` as its delta since it is tiny).

An agent stores the version it applied per channel. A delta whose ``from_version`` equals its
version is applied; a delta that skips ahead (it missed one) is ignored and the agent waits for
the retained snapshot (resubscribe) or pulls ``GET /api/v1/sync/{channel}?since={version}``.
A snapshot whose ``version`` is above the agent's replaces its state. Applying a delta twice is
harmless (upserts and removals by id). A snapshot never moves a channel's version backwards:
every message carries the channel's ``epoch`` (0 until an operator resets the cloud's versions,
e.g. after restoring its database); a snapshot of a higher epoch replaces the store's state
whatever its version, anything of a lower epoch is refused, and deltas apply only within the
store's epoch. Every message arrives signed (``contracts.signing``). After applying, the agent
publishes a ``sync_applied`` event with the channel and version, which the cloud records per store.

Money is in integer cents; times are aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.errors import ContractError
from contracts.messages import utcnow
from contracts.staff import StaffEntry

SYNC_SCHEMA_VERSION: Final = 1
CHANNELS = ("catalog", "revocations", "coupons", "keys", "staff")
Channel = Literal["catalog", "revocations", "coupons", "keys", "staff"]
Version = Annotated[int, Field(ge=0, le=2**62)]
Epoch = Annotated[int, Field(ge=0, le=2**31)]
Cents = Annotated[int, Field(ge=0, le=100_000_000)]
Id = Annotated[str, Field(min_length=1, max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ContractError(f"unknown sync channel {channel!r}; expected one of {', '.join(CHANNELS)}")


class SyncManifest(_Model):
    """Retained ``sync/manifest``: the current version of each channel.

    Attributes:
        versions: channel name to its latest version (0 = nothing published yet).
        published_at: when the cloud published this manifest.
    """

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    versions: dict[Channel, Version]
    epoch: Epoch = 0
    published_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------------------- catalog


class ScheduledPrice(_Model):
    """A price that takes effect at ``effective_from`` (applied by the store on its own clock).

    Exactly one of ``price_cents`` (per unit) or ``price_per_kg_cents`` is set, matching the
    product's ``sold_by_weight``.
    """

    effective_from: datetime
    price_cents: Cents | None = None
    price_per_kg_cents: Cents | None = None


class CatalogProduct(_Model):
    """One product as the checkout sees it.

    Attributes:
        id: product id (the ``product_id`` of sale lines).
        barcodes: EAN/UPC codes that identify it (may be empty for loose produce).
        unit_weight_g / weight_tolerance_g: expected weight of one unit and the accepted
            deviation, for the shelf/bagging scale check (``None`` if not weighed).
        sold_by_weight: priced per kg (``price_per_kg_cents``) rather than per unit.
        price_cents / price_per_kg_cents: the price in force at ``version`` time.
        scheduled_prices: future price changes, oldest first; a store applies each one when its
            ``effective_from`` passes, even while offline.
        active: ``False`` means no longer sold (kept so a store can name it in old receipts).
        item_code: the item digits (PLU) of the store's weight/price-embedded labels, e.g. ``"12345"``
            in ``2112345004128``; ``None`` when the product is never sold from a scale label.
    """

    id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    barcodes: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list)
    unit_weight_g: float | None = Field(default=None, ge=0)
    weight_tolerance_g: float | None = Field(default=None, ge=0)
    sold_by_weight: bool = False
    price_cents: Cents | None = None
    price_per_kg_cents: Cents | None = None
    scheduled_prices: list[ScheduledPrice] = Field(default_factory=list)
    active: bool = True
    item_code: Annotated[str, Field(pattern=r"^[0-9]{1,8}$")] | None = None


class Promotion(_Model):
    """A promotion on some products, valid from ``effective_from`` until ``effective_until``.

    ``kind`` is ``percent`` (``value`` = percent off, 1-100) or ``amount`` (``value`` = cents
    off per qualifying line); it applies to lines with ``quantity >= min_quantity``.
    """

    id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    product_ids: list[Id]
    kind: Literal["percent", "amount"]
    value: Annotated[int, Field(ge=1, le=100_000_000)]
    min_quantity: Annotated[int, Field(ge=1, le=1000)] = 1
    effective_from: datetime
    effective_until: datetime | None = None


class CatalogSnapshot(_Model):
    """Retained ``sync/catalog/snapshot``: every product and promotion at ``version``."""

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    channel: Literal["catalog"] = "catalog"
    epoch: Epoch = 0
    version: Version
    products: list[CatalogProduct]
    promotions: list[Promotion] = Field(default_factory=list)
    generated_at: datetime = Field(default_factory=utcnow)


class CatalogDelta(_Model):
    """``sync/catalog/delta``: products/promotions added or changed, and ids removed."""

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    channel: Literal["catalog"] = "catalog"
    from_version: Version
    epoch: Epoch = 0
    version: Version
    upsert_products: list[CatalogProduct] = Field(default_factory=list)
    remove_product_ids: list[Id] = Field(default_factory=list)
    upsert_promotions: list[Promotion] = Field(default_factory=list)
    remove_promotion_ids: list[Id] = Field(default_factory=list)


# ------------------------------------------------------------------------ revocations


class RevocationList(_Model):
    """Retained ``sync/revocations/snapshot``: members and phone keys a door must refuse.

    ``revoked_phone_keys`` are hex-encoded raw Ed25519 public keys (64 hex chars): a lost phone
    is revoked without revoking the member.
    """

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    channel: Literal["revocations"] = "revocations"
    epoch: Epoch = 0
    version: Version
    revoked_member_ids: list[Id] = Field(default_factory=list)
    revoked_phone_keys: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(default_factory=list)
    generated_at: datetime = Field(default_factory=utcnow)


class RevocationDelta(_Model):
    """``sync/revocations/delta``: ids revoked (``add_*``) or reinstated (``remove_*``)."""

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    channel: Literal["revocations"] = "revocations"
    from_version: Version
    epoch: Epoch = 0
    version: Version
    add_member_ids: list[Id] = Field(default_factory=list)
    remove_member_ids: list[Id] = Field(default_factory=list)
    add_phone_keys: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(default_factory=list)
    remove_phone_keys: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(default_factory=list)
    issued_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------------------- coupons


class Coupon(_Model):
    """A coupon bound to one member, redeemable once (``percent`` or ``amount`` in cents off)."""

    id: Id
    member_id: Id
    kind: Literal["percent", "amount"]
    value: Annotated[int, Field(ge=1, le=100_000_000)]
    min_total_cents: Cents = 0
    valid_from: datetime
    valid_until: datetime | None = None


class CouponList(_Model):
    """Retained ``sync/coupons/snapshot``: every redeemable coupon at ``version``."""

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    channel: Literal["coupons"] = "coupons"
    epoch: Epoch = 0
    version: Version
    coupons: list[Coupon] = Field(default_factory=list)
    generated_at: datetime = Field(default_factory=utcnow)


class CouponDelta(_Model):
    """``sync/coupons/delta``: coupons issued or changed, and ids no longer redeemable."""

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    channel: Literal["coupons"] = "coupons"
    from_version: Version
    epoch: Epoch = 0
    version: Version
    upsert: list[Coupon] = Field(default_factory=list)
    remove_ids: list[Id] = Field(default_factory=list)


# ------------------------------------------------------------------------------- keys


class IssuerKeys(_Model):
    """``sync/keys/snapshot`` and ``sync/keys/delta``: trusted pass-issuer public keys.

    ``keys`` maps the 8-byte key id (hex) to the raw 32-byte Ed25519 public key (base64), the
    format of ``contracts.member_code.encode_public_keys``; decode it with ``decode_public_keys``.
    The set replaces the previous one (a retired key disappears from it).
    """

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    channel: Literal["keys"] = "keys"
    epoch: Epoch = 0
    version: Version
    from_version: Version | None = None
    keys: dict[Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")], str]
    generated_at: datetime = Field(default_factory=utcnow)


# ------------------------------------------------------------------------------ staff


class StaffList(_Model):
    """Retained ``sync/staff/snapshot``: every staff member not revoked, of every store.

    The channel is fleet-wide like the others (signed once); a store keeps the entries of its
    own ``store_id``. A revoked staff member is absent.
    """

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    channel: Literal["staff"] = "staff"
    epoch: Epoch = 0
    version: Version
    staff: list[StaffEntry] = Field(default_factory=list)
    generated_at: datetime = Field(default_factory=utcnow)


class StaffDelta(_Model):
    """``sync/staff/delta``: staff issued or changed (``upsert``), and ids revoked (``remove_ids``)."""

    schema_version: Literal[1] = SYNC_SCHEMA_VERSION
    channel: Literal["staff"] = "staff"
    from_version: Version
    epoch: Epoch = 0
    version: Version
    upsert: list[StaffEntry] = Field(default_factory=list)
    remove_ids: list[Id] = Field(default_factory=list)


Snapshot = CatalogSnapshot | RevocationList | CouponList | IssuerKeys | StaffList
Delta = CatalogDelta | RevocationDelta | CouponDelta | IssuerKeys | StaffDelta

SNAPSHOT_MODELS: dict[str, type[Snapshot]] = {
    "catalog": CatalogSnapshot,
    "revocations": RevocationList,
    "coupons": CouponList,
    "keys": IssuerKeys,
    "staff": StaffList,
}
DELTA_MODELS: dict[str, type[Delta]] = {
    "catalog": CatalogDelta,
    "revocations": RevocationDelta,
    "coupons": CouponDelta,
    "keys": IssuerKeys,
    "staff": StaffDelta,
}


def parse_snapshot(channel: str, payload: bytes | str) -> Snapshot:
    """Parse the retained snapshot of ``channel``.

    Raises:
        ContractError: unknown channel or invalid payload.
    """
    _check_channel(channel)
    try:
        return SNAPSHOT_MODELS[channel].model_validate_json(payload)
    except ValueError as err:
        raise ContractError(f"invalid {channel} snapshot: {err}") from err


def parse_delta(channel: str, payload: bytes | str) -> Delta:
    """Parse a delta of ``channel``.

    Raises:
        ContractError: unknown channel or invalid payload.
    """
    _check_channel(channel)
    try:
        return DELTA_MODELS[channel].model_validate_json(payload)
    except ValueError as err:
        raise ContractError(f"invalid {channel} delta: {err}") from err
