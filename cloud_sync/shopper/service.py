"""What a signed-in shopper does: the phone's pass, wallet and top-ups, orders, receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import (
    Member,
    MemberPhoneKey,
    PriceChange,
    Product,
    PromotionRow,
    Sale,
    Store,
    WalletEntry,
)
from cloud_sync.db.shopper_models import ShopperPhone, ShopperTopUp
from cloud_sync.services import inventory, members
from cloud_sync.services.errors import Invalid, NotFound, PaymentRequired
from cloud_sync.services.sync import effective_price
from cloud_sync.services.wallet import wallet_move
from cloud_sync.shopper.payments import PaymentProvider
from contracts.member_code import is_usable_phone_key


def register_phone(
    session: Session, member: Member, *, phone_key: bytes, label: str, valid_s: int, passphrase: bytes | None
) -> tuple[bytes, datetime, datetime, ShopperPhone]:
    """Issue a pass to this phone's key; a different phone's key is revoked first (one phone per member).

    Raises:
        Invalid: the key is not a usable Ed25519 public key.
        Conflict: the member or this key is revoked.
    """
    if not is_usable_phone_key(phone_key):
        raise Invalid("the phone key must be a raw 32-byte Ed25519 public key")
    key_hex = phone_key.hex()
    current = session.get(ShopperPhone, member.id, with_for_update=True)
    if current is not None and current.phone_key != key_hex:
        members.revoke(session, member.id, reason="replaced by a new phone", phone_key=current.phone_key)
    _kid, signed, nbf, exp = members.issue_pass(session, member.id, key_hex, valid_s, passphrase)
    if current is None:
        current = ShopperPhone(member_id=member.id, phone_key=key_hex, label=label, registered_at=utcnow())
        session.add(current)
    elif current.phone_key != key_hex:
        current.phone_key, current.label, current.registered_at = key_hex, label, utcnow()
    session.flush()
    return signed, nbf, exp, current


def pass_status(session: Session, member: Member, phone_key_hex: str | None) -> dict[str, Any]:
    """Return what this phone's pass is now: active, expired, replaced, revoked or none."""
    phone = session.get(ShopperPhone, member.id)
    out: dict[str, Any] = {
        "status": "none",
        "expires_at": None,
        "phone_label": phone.label if phone else None,
        "phone_since": phone.registered_at if phone else None,
    }
    if member.revoked_at is not None:
        return out | {"status": "revoked"}
    if phone_key_hex is None:
        return out
    rows = session.scalars(
        select(MemberPhoneKey).where(MemberPhoneKey.member_id == member.id, MemberPhoneKey.phone_key == phone_key_hex)
    ).all()
    if not rows:
        return out
    if any(r.revoked_at is not None for r in rows):
        replaced = phone is not None and phone.phone_key != phone_key_hex
        return out | {"status": "replaced" if replaced else "revoked"}
    expires = max(r.expires_at for r in rows)
    return out | {"status": "active" if expires > utcnow() else "expired", "expires_at": expires}


def top_up(
    session: Session, provider: PaymentProvider, member: Member, amount_cents: int, idempotency_key: str
) -> tuple[ShopperTopUp, WalletEntry]:
    """Take the money through the provider, then credit the wallet (once per idempotency key).

    Raises:
        PaymentRequired: the provider declined (the declined attempt is recorded; commit before raising on).
    """
    result = provider.charge(member_id=member.id, amount_cents=amount_cents, idempotency_key=idempotency_key)
    row = ShopperTopUp(
        member_id=member.id,
        amount_cents=amount_cents,
        provider=provider.name,
        provider_ref=result.provider_ref,
        status="approved" if result.approved else "declined",
        detail=result.detail[:200],
    )
    if not result.approved or result.provider_ref is None:
        session.add(row)
        session.flush()
        raise PaymentRequired(result.detail or "the payment was declined")
    entry, new = wallet_move(session, member.id, amount_cents, kind="topup", reference=f"pay:{result.provider_ref}")
    if new:
        session.add(row)
        session.flush()
    return row, entry


def store_list(session: Session) -> list[dict[str, str]]:
    """Return the stores a shopper can choose: id and name only."""
    rows = session.execute(
        select(Store.id, Store.name).where(Store.retired_at.is_(None)).order_by(Store.name, Store.id)
    )
    return [{"id": sid, "name": name or sid} for sid, name in rows]


def store_products(session: Session, store_id: str) -> list[dict[str, Any]]:
    """Return what can be ordered in a store now: product, name, price and available count."""
    inventory.get_store(session, store_id)
    stock = [r for r in inventory.inventory(session, store_id, default_threshold=0) if r["available"] > 0]
    products = {
        p.id: p for p in session.scalars(select(Product).where(Product.id.in_([r["product_id"] for r in stock])))
    }
    out = []
    now = utcnow()
    for r in stock:
        product = products.get(r["product_id"])
        if product is None or not product.active or product.sold_by_weight:
            continue
        changes = session.scalars(select(PriceChange).where(PriceChange.product_id == product.id)).all()
        price, _ = effective_price(product, changes, now)
        if price is not None:
            out.append(
                {"product_id": product.id, "name": product.name, "price_cents": price, "available": r["available"]}
            )
    return out


def receipts(session: Session, member_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """Return the member's paid baskets, newest first, with lines, promotions and coupons."""
    sales = session.scalars(select(Sale).where(Sale.member_id == member_id).order_by(Sale.ts.desc()).limit(limit)).all()
    promo_ids = sorted({p for s in sales for p in (s.promotion_ids or [])})
    names = dict(
        session.execute(select(PromotionRow.id, PromotionRow.name).where(PromotionRow.id.in_(promo_ids))).all()
    )
    return [
        {
            "sale_id": s.sale_id,
            "store_id": s.store_id,
            "ts": s.ts,
            "lines": s.lines,
            "subtotal_cents": s.subtotal_cents,
            "discount_cents": s.discount_cents,
            "promotion_discount_cents": s.promotion_discount_cents,
            "promotions": [{"id": p, "name": names.get(p, p)} for p in s.promotion_ids or []],
            "coupon_ids": list(s.coupon_ids),
            "total_cents": s.total_cents,
            "payment_mode": s.payment_mode,
        }
        for s in sales
    ]


def own_order(session: Session, member: Member, order_id: uuid.UUID) -> dict[str, Any]:
    """Return one of the member's orders (another member's is 'not found')."""
    order = inventory.get_order(session, order_id)
    if order.member_id != member.id:
        raise NotFound(f"order {order_id} not found")
    return inventory.order_view(session, order)
