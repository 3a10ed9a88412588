"""Sales from the stores: the sale rows, stock movements and low stock, coupons, payment checks.

:func:`record_sales` runs in the ingest's main transaction for events seen for the first time; a
sale re-sent under a new event id (an agent retry) is recorded once, by ``sale_id``. Offline
sales are returned for :func:`cloud_sync.services.wallet.charge_offline_sales`, which the ingest
runs last in the transaction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select, tuple_, update
from sqlalchemy.orm import Session

from cloud_sync.db.base import aware, table_of
from cloud_sync.db.bulk import insert_ignore_rows
from cloud_sync.db.models import CouponRow, Payment, Product, Sale, StockMovement
from cloud_sync.services.alerts import raise_alert
from cloud_sync.services.sale_charges import find_sale_charges
from cloud_sync.services.sync import record_change
from contracts.messages import CheckoutAbandoned, SaleCompleted

DEFAULT_LOW_STOCK = 5
RESTOCK_CACHE_S = 5.0


@dataclass
class LowStock:
    """When to alert low stock: a default threshold, and which (store, product) pairs are stocked.

    Only products a store has restocked at least once are watched; that set is read from the
    stock movements and cached for ``cache_s`` seconds.
    """

    default_threshold: int = DEFAULT_LOW_STOCK
    cache_s: float = RESTOCK_CACHE_S
    _restocked: tuple[float, set[tuple[str, str]]] | None = field(default=None, repr=False)

    def restocked(self, session: Session) -> set[tuple[str, str]]:
        """Return the (store, product) pairs ever restocked, cached for a few seconds."""
        now = time.monotonic()
        if self._restocked is None or now - self._restocked[0] > self.cache_s:
            rows = session.execute(
                select(StockMovement.store_id, StockMovement.product_id)
                .where(StockMovement.reason == "restock")
                .distinct()
            ).all()
            self._restocked = (now, {(r[0], r[1]) for r in rows})
        return self._restocked[1]


def record_sales(session: Session, sales: Sequence[SaleCompleted], low_stock: LowStock) -> list[SaleCompleted]:
    """Record sales never seen before with their effects; return the offline ones still to charge."""
    if not sales:
        return []
    by_sale: dict[uuid.UUID, SaleCompleted] = {}
    for s in sales:
        by_sale.setdefault(s.sale_id, s)
    rows = [
        {
            "sale_id": s.sale_id,
            "event_id": s.event_id,
            "store_id": s.store_id,
            "station_id": s.station_id,
            "member_id": s.member_id,
            "ts": s.ts,
            "subtotal_cents": s.subtotal_cents,
            "discount_cents": s.discount_cents,
            "total_cents": s.total_cents,
            "payment_mode": s.payment_mode,
            "authorization_id": s.authorization_id,
            "coupon_ids": list(s.coupon_ids),
            "promotion_ids": list(s.promotion_ids),
            "promotion_discount_cents": s.promotion_discount_cents,
            "lines": [line.model_dump(mode="json") for line in s.lines],
        }
        for s in sorted(by_sale.values(), key=lambda s: s.sale_id)
    ]
    fresh_ids = set(insert_ignore_rows(session, table_of(Sale), rows, conflict=["sale_id"], returning="sale_id"))
    fresh = [s for s in by_sale.values() if s.sale_id in fresh_ids]
    if fresh:
        record_stock(session, fresh, low_stock)
        redeem_coupons(session, fresh)
        check_online_payments(session, [s for s in fresh if s.payment_mode == "online"])
    return [s for s in fresh if s.payment_mode == "offline"]


def record_stock(session: Session, sales: Sequence[SaleCompleted], low_stock: LowStock) -> None:
    """Write one stock movement per sale line (grams for goods sold by weight); alert low stock."""
    product_ids = sorted({line.product_id for s in sales for line in s.lines})
    products = {
        p.id: p
        for p in session.execute(
            select(Product.id, Product.sold_by_weight, Product.low_stock_threshold).where(Product.id.in_(product_ids))
        )
    }
    moves = []
    for s in sales:
        for i, line in enumerate(s.lines):
            info = products.get(line.product_id)
            by_weight = bool(info and info.sold_by_weight and line.weight_g is not None)
            qty = round(line.weight_g or 0) if by_weight else line.quantity
            moves.append(
                {
                    "store_id": s.store_id,
                    "product_id": line.product_id,
                    "quantity": -qty,
                    "reason": "sale",
                    "reference": f"{s.sale_id}:{i}",
                    "created_at": s.ts,
                }
            )
    insert_ignore_rows(session, table_of(StockMovement), moves)
    # Low stock: only for products a store stocks (restocked at least once).
    pairs = sorted({(m["store_id"], m["product_id"]) for m in moves} & low_stock.restocked(session))
    if not pairs:
        return
    rows = session.execute(
        select(StockMovement.store_id, StockMovement.product_id, func.sum(StockMovement.quantity))
        .where(tuple_(StockMovement.store_id, StockMovement.product_id).in_(pairs))
        .group_by(StockMovement.store_id, StockMovement.product_id)
        .having(func.max(case((StockMovement.reason == "restock", 1), else_=0)) == 1)
    ).all()
    for store_id, pid, on_hand in rows:
        info = products.get(pid)
        threshold = (
            info.low_stock_threshold if info and info.low_stock_threshold is not None else low_stock.default_threshold
        )
        if int(on_hand) <= threshold:
            raise_alert(
                session,
                kind="low_stock",
                store_id=store_id,
                message=f"{pid} is low in {store_id}: {int(on_hand)} left (threshold {threshold})",
                details={"product_id": pid, "on_hand": int(on_hand), "threshold": threshold},
                dedupe_key=f"low_stock:{store_id}:{pid}",
            )


def redeem_coupons(session: Session, sales: Sequence[SaleCompleted]) -> None:
    """Mark the sales' coupons redeemed (oldest sale first); alert unknown, revoked, reused or foreign ones."""
    redeemed: list[str] = []
    for s in sorted(sales, key=lambda s: (aware(s.ts), str(s.sale_id))):
        for cid in s.coupon_ids:
            res = session.execute(
                update(CouponRow)
                .where(CouponRow.id == cid, CouponRow.redeemed_sale_id.is_(None), CouponRow.revoked_at.is_(None))
                .values(redeemed_sale_id=s.sale_id, redeemed_store_id=s.store_id, redeemed_at=s.ts)
                .returning(CouponRow.member_id)
                .execution_options(synchronize_session=False)
            ).first()
            if res is not None:
                redeemed.append(cid)
                if res.member_id != s.member_id:
                    _alert_wrong_member(session, s, cid, res.member_id)
                continue
            _alert_unusable_coupon(session, s, cid)
    if redeemed:
        record_change(session, "coupons", remove_ids=sorted(set(redeemed)))


def _alert_wrong_member(session: Session, s: SaleCompleted, cid: str, owner: str) -> None:
    raise_alert(
        session,
        kind="coupon_wrong_member",
        store_id=s.store_id,
        message=f"coupon {cid} of member {owner} used by {s.member_id} in sale {s.sale_id}",
        details={"coupon_id": cid, "sale_id": str(s.sale_id), "owner": owner, "member_id": s.member_id},
        dedupe_key=f"coupon_wrong_member:{cid}:{s.sale_id}",
    )


def _alert_unusable_coupon(session: Session, s: SaleCompleted, cid: str) -> None:
    """Alert a coupon the sale could not redeem (unless this sale's online payment redeemed it)."""
    coupon = session.get(CouponRow, cid)
    details: dict[str, Any] = {
        "coupon_id": cid,
        "sale_id": str(s.sale_id),
        "store_id": s.store_id,
        "member_id": s.member_id,
    }
    if coupon is None:
        raise_alert(
            session,
            kind="coupon_unknown",
            store_id=s.store_id,
            message=f"sale {s.sale_id} in {s.store_id} used unknown coupon {cid}",
            details=details,
            dedupe_key=f"coupon_unknown:{cid}:{s.sale_id}",
        )
    elif coupon.redeemed_sale_id == s.sale_id:
        return  # redeemed by this sale's online payment already
    elif coupon.redeemed_sale_id is not None:
        details |= {"first_sale_id": str(coupon.redeemed_sale_id), "first_store_id": coupon.redeemed_store_id}
        raise_alert(
            session,
            kind="coupon_double_redemption",
            store_id=s.store_id,
            severity="critical",
            message=(
                f"coupon {cid} redeemed twice: sale {coupon.redeemed_sale_id} in "
                f"{coupon.redeemed_store_id} "
                f"and sale {s.sale_id} in {s.store_id}"
            ),
            details=details,
            dedupe_key=f"coupon_double:{cid}:{s.sale_id}",
        )
    else:
        raise_alert(
            session,
            kind="coupon_revoked",
            store_id=s.store_id,
            message=f"sale {s.sale_id} in {s.store_id} used revoked coupon {cid}",
            details=details,
            dedupe_key=f"coupon_revoked:{cid}:{s.sale_id}",
        )


def check_online_payments(session: Session, sales: Sequence[SaleCompleted]) -> None:
    """Alert an online sale whose authorisation is missing, not approved or does not match it.

    An online sale that quotes no authorisation id is fine if its sale was charged online for
    its member and total (the station completes on an approval whose id it did not get).
    """
    if not sales:
        return
    auth_ids = [s.authorization_id for s in sales if s.authorization_id]
    payments = (
        {p.authorization_id: p for p in session.scalars(select(Payment).where(Payment.authorization_id.in_(auth_ids)))}
        if auth_ids
        else {}
    )
    unquoted = [(s.store_id, s.sale_id) for s in sales if not s.authorization_id]
    charged = find_sale_charges(session, unquoted) if unquoted else {}
    for s in sales:
        p = payments.get(s.authorization_id) if s.authorization_id else None
        problem = None
        charge = charged.get((s.store_id, s.sale_id))
        if p is None and charge is not None and charge.kind == "charge" and charge.matches(s.member_id, s.total_cents):
            continue  # approved, the reply (with its id) was lost: the sale's charge is this one
        if p is None:
            problem = f"no approved authorisation {s.authorization_id!r}"
        elif p.status != "approved":
            problem = f"authorisation {p.authorization_id} is {p.status}"
        elif p.amount_cents != s.total_cents:
            problem = f"authorised {p.amount_cents} cents but sale total is {s.total_cents}"
        elif p.member_id != s.member_id:
            problem = f"authorised for member {p.member_id} but sale member is {s.member_id}"
        if problem:
            raise_alert(
                session,
                kind="payment_mismatch",
                store_id=s.store_id,
                severity="critical",
                message=f"online sale {s.sale_id} in {s.store_id}: {problem}",
                details={
                    "sale_id": str(s.sale_id),
                    "authorization_id": s.authorization_id,
                    "total_cents": s.total_cents,
                },
                dedupe_key=f"payment_mismatch:{s.sale_id}",
            )


def alert_abandoned_checkout(session: Session, e: CheckoutAbandoned) -> None:
    """Tell an operator that goods may have left unpaid (once per abandoned session)."""
    what = f"{len(e.lines)} identified line(s) worth {e.value_cents / 100:.2f}"
    if e.unidentified:
        what += f" and {e.unidentified} unidentified item(s)"
    raise_alert(
        session,
        kind="checkout_abandoned",
        message=f"checkout {e.station_id} abandoned unpaid ({e.reason}) by member {e.member_id}: {what}",
        store_id=e.store_id,
        details={"sale_id": str(e.sale_id), "event_id": str(e.event_id), "value_cents": e.value_cents},
        dedupe_key=f"checkout_abandoned:{e.sale_id}",
    )
