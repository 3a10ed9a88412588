"""Request and response bodies of the shopper API (``/api/shop``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud_sync.api.schemas import OrderOut, StockLine, StoreId, WalletEntryOut


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CodeRequestIn(_In):
    """Ask for a one-time code by e-mail or text message."""

    contact: str = Field(min_length=3, max_length=254, description="An e-mail address or a phone number.")


class CodeRequestOut(BaseModel):
    """A code was sent; it works until ``expires_at``."""

    sent_to: str
    expires_at: datetime


class SignInIn(_In):
    """Sign in (or join) with the code that was sent."""

    contact: str = Field(min_length=3, max_length=254)
    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


class CsrfOut(BaseModel):
    """The value to send back in ``X-CSRF-Token`` on every state-changing request."""

    csrf: str


class MeOut(BaseModel):
    """The signed-in shopper: an opaque member id, and the contact they signed in with."""

    member_id: str
    contact: str | None
    joined: bool = False
    balance_cents: int
    revoked: bool


class PhoneIn(_In):
    """This phone's raw Ed25519 public key (base64url or standard base64) and a label for it."""

    public_key: str = Field(min_length=43, max_length=64, pattern=r"^[A-Za-z0-9+/_=-]+$")
    label: str = Field(default="phone", min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")


class PassOut(BaseModel):
    """The signed pass for this phone (``signed_pass_b64`` = pass bytes followed by the issuer's signature)."""

    member_id: str
    signed_pass_b64: str
    not_before: datetime
    expires_at: datetime
    phone_label: str
    phone_since: datetime


class PassStatusOut(BaseModel):
    """What this phone's pass is now, and which phone holds the member's pass."""

    status: Literal["active", "expired", "replaced", "revoked", "none"]
    expires_at: datetime | None
    phone_label: str | None
    phone_since: datetime | None


class StoreOut(BaseModel):
    """A store the shopper can pick."""

    id: str
    name: str


class ProductOut(BaseModel):
    """A product that can be ordered in a store now."""

    product_id: str
    name: str
    price_cents: int
    available: int


class ShopWalletOut(BaseModel):
    """Balance and the newest movements (charges negative, top-ups positive)."""

    balance_cents: int
    entries: list[WalletEntryOut]


class TopUpIn(_In):
    """Add money through the payment provider; repeating ``idempotency_key`` does not charge twice."""

    amount_cents: int = Field(ge=1, le=100_000_00)
    idempotency_key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class TopUpOut(BaseModel):
    """An approved top-up and the balance after it."""

    amount_cents: int
    provider_ref: str
    balance_cents: int


class ShopOrderIn(_In):
    """Reserve products in a store for pickup, paid from the wallet now."""

    store_id: StoreId
    lines: list[StockLine] = Field(min_length=1, max_length=50)


class PromotionOut(BaseModel):
    """A promotion applied to a basket."""

    id: str
    name: str


class ReceiptOut(BaseModel):
    """One paid basket."""

    sale_id: uuid.UUID
    store_id: str
    ts: datetime
    lines: list[dict[str, Any]]
    subtotal_cents: int
    discount_cents: int
    promotion_discount_cents: int
    promotions: list[PromotionOut]
    coupon_ids: list[str]
    total_cents: int
    payment_mode: str


__all__ = ["OrderOut"]
