"""Click-and-collect orders: reserve stock in a store, collect at night with the member code."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select

from cloud_sync.api.deps import (
    AnyRole,
    Operator,
    OperatorOrDevice,
    PagingDep,
    SessionDep,
)
from cloud_sync.api.errors import error_responses
from cloud_sync.api.pagination import paginate
from cloud_sync.api.schemas import CollectIn, OrderIn, OrderOut, Page
from cloud_sync.db.models import Order
from cloud_sync.services import inventory

router = APIRouter(prefix="/orders", tags=["orders"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OrderOut, responses=error_responses(402))
def create_order(body: OrderIn, request: Request, session: SessionDep, _p: Operator) -> OrderOut:
    """Reserve stock and charge the wallet (409 not enough stock, 402 balance too low)."""
    order = inventory.create_order(
        session,
        store_id=body.store_id,
        member_id=body.member_id,
        lines=[(line.product_id, line.quantity) for line in body.lines],
        pickup_by=body.pickup_by,
        hold_hours=request.app.state.settings.order_hold_hours,
    )
    return OrderOut(**inventory.order_view(session, order))


@router.get("", response_model=Page[OrderOut])
def list_orders(
    session: SessionDep,
    principal: AnyRole,
    paging: PagingDep,
    store_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    member_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    status_: Annotated[Literal["reserved", "collected", "cancelled", "expired"] | None, Query(alias="status")] = None,
) -> Page[OrderOut]:
    """List orders (a store-bound token sees its store's only)."""
    inventory.expire_orders(session)
    query = select(Order).order_by(Order.created_at, Order.id)
    if principal.store_id is not None:
        query = query.where(Order.store_id == principal.store_id)
    if store_id:
        query = query.where(Order.store_id == store_id)
    if member_id:
        query = query.where(Order.member_id == member_id)
    if status_:
        query = query.where(Order.status == status_)
    rows, total = paginate(session, query, paging)
    return Page(
        items=[OrderOut(**inventory.order_view(session, o)) for o in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/{order_id}", response_model=OrderOut)
def get_order(order_id: uuid.UUID, session: SessionDep, principal: AnyRole) -> OrderOut:
    """One order."""
    order = inventory.get_order(session, order_id)
    principal.check_store(order.store_id)
    return OrderOut(**inventory.order_view(session, order))


@router.post("/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: uuid.UUID, session: SessionDep, _p: Operator) -> OrderOut:
    """Cancel a reserved order and refund the wallet."""
    return OrderOut(**inventory.order_view(session, inventory.cancel_order(session, order_id)))


@router.post("/{order_id}/collect", response_model=OrderOut)
def collect_order(order_id: uuid.UUID, body: CollectIn, session: SessionDep, principal: OperatorOrDevice) -> OrderOut:
    """Hand the order to the member who entered with their code (the store's device token)."""
    principal.check_store(inventory.get_order(session, order_id).store_id)
    return OrderOut(**inventory.order_view(session, inventory.collect_order(session, order_id, body.member_id)))
