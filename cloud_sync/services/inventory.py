"""Per-store inventory (from restocks, sales and collected orders) and click-and-collect orders.

Stock is never stored as a number that two writers could race on: it is the sum of append-only
``stock_movements`` (restock +, sale -, collected order -). Open orders reserve stock:
``available = on_hand - reserved``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import (
    Alert,
    Order,
    OrderLine,
    PriceChange,
    Product,
    StockMovement,
    Store,
)
from cloud_sync.services.errors import Conflict, Invalid, NotFound, PaymentRequired
from cloud_sync.services.members import get_member
from cloud_sync.services.sync import effective_price
from cloud_sync.services.wallet import charge, wallet_move


def get_store(session: Session, store_id: str, *, lock: bool = False) -> Store:
    """Return the store or raise NotFound."""
    query = select(Store).where(Store.id == store_id)
    if lock:
        query = query.with_for_update()
    store = session.scalar(query)
    if store is None:
        raise NotFound(f"store {store_id!r} not found")
    return store


def restock(session: Session, store_id: str, lines: list[tuple[str, int]], reference: str | None) -> int:
    """Add stock; idempotent on ``reference``. Returns the number of movements written."""
    get_store(session, store_id)
    ids = sorted({pid for pid, _ in lines})
    found = set(session.scalars(select(Product.id).where(Product.id.in_(ids))))
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(f"unknown products: {', '.join(missing[:10])}")
    ref = reference or uuid.uuid4().hex
    if session.scalar(
        select(StockMovement.id).where(StockMovement.reason == "restock", StockMovement.reference == f"{ref}:0")
    ):
        return 0  # this delivery was recorded already
    now = utcnow()
    for i, (pid, qty) in enumerate(lines):
        session.add(
            StockMovement(
                store_id=store_id,
                product_id=pid,
                quantity=qty,
                reason="restock",
                reference=f"{ref}:{i}",
                created_at=now,
            )
        )
    # A restock ends the low-stock episode: resolve the alerts and free their dedupe keys.
    for alert in session.scalars(
        select(Alert).where(Alert.kind == "low_stock", Alert.store_id == store_id, Alert.resolved_at.is_(None))
    ):
        if alert.details.get("product_id") in ids:
            alert.resolved_at = now
            alert.dedupe_key = None
    session.flush()
    return len(lines)


def expire_orders(session: Session, now: datetime | None = None) -> int:
    """Expire reserved orders past their pickup time and refund them; return how many."""
    now = now or utcnow()
    expired = session.scalars(
        select(Order).where(Order.status == "reserved", Order.pickup_by <= now).with_for_update()
    ).all()
    for order in expired:
        order.status = "expired"
        order.closed_at = now
        wallet_move(
            session, order.member_id, order.total_cents, kind="refund", reference=str(order.id), store_id=order.store_id
        )
    session.flush()
    return len(expired)


def inventory(
    session: Session, store_id: str | None = None, *, default_threshold: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Return stock rows (on hand, reserved, available, low) per store and product."""
    now = now or utcnow()
    on_hand_q = select(StockMovement.store_id, StockMovement.product_id, func.sum(StockMovement.quantity)).group_by(
        StockMovement.store_id, StockMovement.product_id
    )
    reserved_q = (
        select(Order.store_id, OrderLine.product_id, func.sum(OrderLine.quantity))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status == "reserved", Order.pickup_by > now)
        .group_by(Order.store_id, OrderLine.product_id)
    )
    if store_id is not None:
        on_hand_q = on_hand_q.where(StockMovement.store_id == store_id)
        reserved_q = reserved_q.where(Order.store_id == store_id)
    stock: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s, p, q in session.execute(on_hand_q):
        stock[(s, p)][0] = int(q or 0)
    for s, p, q in session.execute(reserved_q):
        stock[(s, p)][1] = int(q or 0)
    products = (
        {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(sorted({p for _, p in stock}))))}
        if stock
        else {}
    )
    rows = []
    for (s, pid), (on_hand, reserved) in sorted(stock.items()):
        product = products.get(pid)
        threshold = (
            product.low_stock_threshold if product and product.low_stock_threshold is not None else default_threshold
        )
        available = on_hand - reserved
        rows.append(
            {
                "store_id": s,
                "product_id": pid,
                "name": product.name if product else None,
                "on_hand": on_hand,
                "reserved": reserved,
                "available": available,
                "threshold": threshold,
                "low": available <= threshold,
            }
        )
    return rows


def create_order(
    session: Session,
    *,
    store_id: str,
    member_id: str,
    lines: list[tuple[str, int]],
    pickup_by: datetime | None,
    hold_hours: int,
) -> Order:
    """Reserve stock in a store for a member and charge the wallet; 409/402 if impossible."""
    now = utcnow()
    expire_orders(session, now)
    get_store(session, store_id, lock=True)  # one order at a time per store: no overselling
    member = get_member(session, member_id)
    if member.revoked_at is not None:
        raise Conflict(f"member {member_id!r} is revoked")
    pickup_by = pickup_by or now + timedelta(hours=hold_hours)
    if pickup_by <= now:
        raise Invalid("pickup_by must be in the future")
    merged: dict[str, int] = defaultdict(int)
    for pid, qty in lines:
        merged[pid] += qty
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(sorted(merged))))}
    changes: dict[str, list[PriceChange]] = defaultdict(list)
    for ch in session.scalars(select(PriceChange).where(PriceChange.product_id.in_(sorted(merged)))):
        changes[ch.product_id].append(ch)
    stock = {r["product_id"]: r for r in inventory(session, store_id, default_threshold=0, now=now)}
    priced: list[tuple[str, int, int]] = []
    for pid, qty in sorted(merged.items()):
        product = products.get(pid)
        if product is None or not product.active:
            raise Invalid(f"product {pid!r} is not sold")
        if product.sold_by_weight:
            raise Invalid(f"product {pid!r} is sold by weight and cannot be reserved")
        price, _ = effective_price(product, changes[pid], now)
        if price is None:
            raise Invalid(f"product {pid!r} has no price")
        available = stock[pid]["available"] if pid in stock else 0
        if available < qty:
            raise Conflict(f"not enough {pid!r} in store {store_id!r}: {available} available, {qty} wanted")
        priced.append((pid, qty, price))
    total = sum(q * p for _, q, p in priced)
    order = Order(
        id=uuid.uuid4(),
        store_id=store_id,
        member_id=member_id,
        status="reserved",
        total_cents=total,
        created_at=now,
        pickup_by=pickup_by,
    )
    if charge(session, member_id, total, kind="order", reference=str(order.id), store_id=store_id) is None:
        raise PaymentRequired(f"wallet balance does not cover {total} cents")
    session.add(order)
    session.flush()
    session.add_all(
        OrderLine(order_id=order.id, product_id=pid, quantity=q, unit_price_cents=p) for pid, q, p in priced
    )
    session.flush()
    return order


def get_order(session: Session, order_id: uuid.UUID, *, lock: bool = False) -> Order:
    """Return the order or raise NotFound."""
    query = select(Order).where(Order.id == order_id)
    if lock:
        query = query.with_for_update()
    order = session.scalar(query)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


def cancel_order(session: Session, order_id: uuid.UUID) -> Order:
    """Cancel a reserved order and refund it."""
    expire_orders(session)
    order = get_order(session, order_id, lock=True)
    if order.status != "reserved":
        raise Conflict(f"order is {order.status}, not reserved")
    order.status = "cancelled"
    order.closed_at = utcnow()
    wallet_move(
        session, order.member_id, order.total_cents, kind="refund", reference=str(order.id), store_id=order.store_id
    )
    session.flush()
    return order


def collect_order(session: Session, order_id: uuid.UUID, member_id: str) -> Order:
    """Hand a reserved order to its member: stock leaves the store."""
    expire_orders(session)
    order = get_order(session, order_id, lock=True)
    if order.status != "reserved":
        raise Conflict(f"order is {order.status}, not reserved")
    if order.member_id != member_id:
        raise Conflict("this order belongs to another member")
    now = utcnow()
    lines = session.scalars(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)).all()
    for i, line in enumerate(lines):
        session.add(
            StockMovement(
                store_id=order.store_id,
                product_id=line.product_id,
                quantity=-line.quantity,
                reason="order",
                reference=f"{order.id}:{i}",
                created_at=now,
            )
        )
    order.status = "collected"
    order.collected_at = now
    order.closed_at = now
    session.flush()
    return order


def order_view(session: Session, order: Order) -> dict[str, Any]:
    """Return the API view of an order with its lines."""
    lines = session.scalars(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)).all()
    return {
        "id": order.id,
        "store_id": order.store_id,
        "member_id": order.member_id,
        "status": order.status,
        "total_cents": order.total_cents,
        "created_at": order.created_at,
        "pickup_by": order.pickup_by,
        "collected_at": order.collected_at,
        "closed_at": order.closed_at,
        "lines": [
            {"product_id": li.product_id, "quantity": li.quantity, "unit_price_cents": li.unit_price_cents}
            for li in lines
        ],
    }
