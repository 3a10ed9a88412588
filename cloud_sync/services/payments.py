"""Online wallet authorisation for the checkout (contracts.payments), idempotent on request_id and per sale."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import CouponRow, Member, Payment
from cloud_sync.services.sale_charges import alert_charge_mismatch, find_sale_charges
from cloud_sync.services.sync import record_change
from cloud_sync.services.wallet import add_entry
from contracts.payments import PaymentReply, PaymentRequest


def _reply(session: Session, row: Payment) -> PaymentReply:
    auth = row.authorization_id
    if auth is None and row.status == "approved":  # approved as a sale charged already: quote that charge
        auth = session.scalar(
            select(Payment.authorization_id).where(
                Payment.store_id == row.store_id,
                Payment.sale_id == row.sale_id,
                Payment.authorization_id.is_not(None),
            )
        )
    return PaymentReply(
        request_id=row.request_id,
        status=row.status,
        authorization_id=auth,
        balance_cents=row.balance_cents,
        reason=row.reason,
    )


def _coupon_usable(coupon: CouponRow | None, req: PaymentRequest, now: datetime) -> bool:
    if coupon is None or coupon.member_id != req.member_id or coupon.revoked_at is not None:
        return False
    if coupon.redeemed_sale_id is not None and coupon.redeemed_sale_id != req.sale_id:
        return False
    if coupon.valid_from > now:
        return False
    return coupon.valid_until is None or coupon.valid_until > now


def _expired(expires_at: datetime, now: datetime) -> bool:
    aware = expires_at.replace(tzinfo=UTC) if expires_at.tzinfo is None else expires_at
    try:
        return aware <= now
    except OverflowError:  # pragma: no cover - absurd offsets at datetime.min
        return True


def authorize(session: Session, req: PaymentRequest, now: datetime | None = None) -> PaymentReply:
    """Charge the wallet for ``req`` (or decline) and return the reply; repeatable safely.

    Idempotent on ``request_id``, and charged at most once per sale: a new request for a sale
    already charged (a retry after a lost reply, under a new request id) is approved on that
    charge if it asks the same member and amount, else declined ``already_charged`` with a
    ``charge_mismatch`` alert; nothing is charged twice.
    """
    now = now or utcnow()
    existing = session.get(Payment, req.request_id)
    if existing is not None:
        return _reply(session, existing)
    row = Payment(
        request_id=req.request_id,
        store_id=req.store_id,
        member_id=req.member_id,
        sale_id=req.sale_id,
        amount_cents=req.amount_cents,
        coupon_ids=list(req.coupon_ids),
        status="declined",
        created_at=now,
    )
    member = session.execute(select(Member).where(Member.id == req.member_id).with_for_update()).scalar_one_or_none()
    if _expired(req.expires_at, now):
        row.reason = "expired"
        row.balance_cents = member.balance_cents if member else None
    elif member is None:
        row.reason = "unknown_member"
    elif member.revoked_at is not None:
        row.reason = "member_revoked"
        row.balance_cents = member.balance_cents
    else:
        _charge(session, row, req, member, now)
    session.add(row)
    session.flush()
    return _reply(session, row)


def _charge(session: Session, row: Payment, req: PaymentRequest, member: Member, now: datetime) -> None:
    """Charge a usable member for ``req`` (coupons redeemed with it) unless the sale is charged already."""
    coupons = {
        c.id: c for c in session.scalars(select(CouponRow).where(CouponRow.id.in_(req.coupon_ids)).with_for_update())
    }
    row.balance_cents = member.balance_cents
    if not all(_coupon_usable(coupons.get(cid), req, now) for cid in req.coupon_ids):
        row.reason = "coupon_unavailable"
        return
    charged = find_sale_charges(session, [(req.store_id, req.sale_id)]).get((req.store_id, req.sale_id))
    if charged is not None:
        row.reason = "already_charged"
        if charged.matches(req.member_id, req.amount_cents):
            if charged.kind == "charge":
                row.status = "approved"  # the reply quotes the first authorisation of this sale
        else:
            alert_charge_mismatch(
                session,
                charged,
                member_id=req.member_id,
                amount_cents=req.amount_cents,
                source="payment request",
                ref=str(req.request_id),
            )
        return
    new_balance = session.execute(
        update(Member)
        .where(Member.id == member.id, Member.balance_cents >= req.amount_cents)
        .values(balance_cents=Member.balance_cents - req.amount_cents)
        .returning(Member.balance_cents)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if new_balance is None:
        row.reason = "insufficient_funds"
        return
    row.status = "approved"
    row.authorization_id = "auth_" + uuid.uuid4().hex
    row.balance_cents = int(new_balance)
    add_entry(
        session,
        member_id=member.id,
        amount_cents=-req.amount_cents,
        kind="charge",
        reference=str(req.request_id),
        balance_after=int(new_balance),
        store_id=req.store_id,
        created_at=now,
        sale_id=req.sale_id,
    )
    redeemed = []
    for cid in req.coupon_ids:
        coupon = coupons[cid]
        if coupon.redeemed_sale_id is None:
            coupon.redeemed_sale_id = req.sale_id
            coupon.redeemed_store_id = req.store_id
            coupon.redeemed_at = now
            redeemed.append(cid)
    if redeemed:
        record_change(session, "coupons", remove_ids=redeemed)
