"""Stores, their agents' reported state, inventory and restocks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from sqlalchemy import func, select

from cloud_sync.api.deps import AnyRole, Operator, PagingDep, SessionDep, Staff
from cloud_sync.api.operator_schemas import AlarmOut, DeviceOut, StoreDetail
from cloud_sync.api.pagination import paginate
from cloud_sync.api.schemas import (
    DeliveryOut,
    InventoryRow,
    Page,
    RestockIn,
    StoreIn,
    StoreOut,
    StorePatch,
)
from cloud_sync.db.models import Alarm, Event, Store, StoreDelivery, StoreDevice, StoreState, StoreSync
from cloud_sync.services.delivery import missing_ranges
from cloud_sync.services.errors import Conflict
from cloud_sync.services.inventory import expire_orders, get_store, inventory, restock

router = APIRouter(tags=["stores"])
StorePath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]


@router.get("/stores", response_model=Page[StoreOut])
def list_stores(
    session: SessionDep,
    principal: AnyRole,
    paging: PagingDep,
    online: bool | None = None,
    q: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
) -> Page[StoreOut]:
    """List stores (filter by ``online``, or ``q`` in id or name)."""
    query = select(Store).order_by(Store.id)
    if principal.store_id is not None:
        query = query.where(Store.id == principal.store_id)
    if online is not None:
        query = query.where(Store.online.is_(online))
    if q:
        query = query.where(Store.id.contains(q, autoescape=True) | Store.name.contains(q, autoescape=True))
    rows, total = paginate(session, query, paging)
    return Page(items=[StoreOut.model_validate(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.post("/stores", status_code=status.HTTP_201_CREATED, response_model=StoreOut)
def register_store(body: StoreIn, session: SessionDep, _p: Operator) -> StoreOut:
    """Register a store (or adopt one that was first seen through MQTT)."""
    store = session.get(Store, body.id)
    if store is not None and store.registered:
        raise Conflict(f"store {body.id!r} is registered already")
    if store is None:
        store = Store(id=body.id, name=body.name, address=body.address, registered=True)
        session.add(store)
    else:
        store.name, store.address, store.registered = body.name, body.address, True
    session.flush()
    return StoreOut.model_validate(store)


@router.get("/stores/{store_id}", response_model=StoreDetail)
def store_detail(store_id: StorePath, session: SessionDep, principal: AnyRole) -> StoreDetail:
    """A store with its devices, open alarms, applied downlink versions and last event time."""
    principal.check_store(store_id)
    store = get_store(session, store_id)
    devices = session.scalars(select(StoreDevice).where(StoreDevice.store_id == store_id).order_by(StoreDevice.device))
    alarms = session.scalars(
        select(Alarm).where(Alarm.store_id == store_id, Alarm.active.is_(True)).order_by(Alarm.alarm)
    )
    versions = dict(
        session.execute(select(StoreSync.channel, StoreSync.version).where(StoreSync.store_id == store_id)).all()
    )
    last = session.scalar(select(func.max(Event.ts)).where(Event.store_id == store_id))
    return StoreDetail(
        **StoreOut.model_validate(store).model_dump(),
        devices=[DeviceOut.model_validate(d) for d in devices],
        open_alarms=[AlarmOut.model_validate(a) for a in alarms],
        sync_versions={k: int(v) for k, v in versions.items()},
        last_event_at=last,
    )


@router.get("/stores/{store_id}/delivery", response_model=DeliveryOut)
def store_delivery(store_id: StorePath, session: SessionDep, principal: AnyRole) -> DeliveryOut:
    """End-to-end delivery of a store's events: committed through, gaps, and the agent's backlog."""
    principal.check_store(store_id)
    get_store(session, store_id)
    row = session.get(StoreDelivery, store_id)
    state = session.get(StoreState, (store_id, "delivery"))
    return DeliveryOut(
        store_id=store_id,
        committed_through=row.committed_through if row else 0,
        max_seq=row.max_seq if row else 0,
        gap_since=row.gap_since if row else None,
        missing=missing_ranges(session, store_id),
        agent=state.payload if state else None,
    )


@router.patch("/stores/{store_id}", response_model=StoreOut)
def update_store(store_id: StorePath, body: StorePatch, session: SessionDep, _p: Operator) -> StoreOut:
    """Rename a store or change its address."""
    store = get_store(session, store_id)
    for key, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(store, key, value)
    session.flush()
    return StoreOut.model_validate(store)


@router.get("/stores/{store_id}/inventory", response_model=list[InventoryRow])
def store_inventory(
    store_id: StorePath, request: Request, session: SessionDep, principal: AnyRole, low_only: bool = False
) -> list[InventoryRow]:
    """Stock per product: on hand (restocks minus sales and collected orders), reserved, available."""
    principal.check_store(store_id)
    get_store(session, store_id)
    expire_orders(session)
    rows = inventory(session, store_id, default_threshold=request.app.state.settings.low_stock_default)
    return [InventoryRow(**r) for r in rows if r["low"] or not low_only]


@router.post("/stores/{store_id}/restocks", status_code=status.HTTP_201_CREATED, response_model=list[InventoryRow])
def add_restock(
    store_id: StorePath, body: RestockIn, request: Request, session: SessionDep, _p: Staff
) -> list[InventoryRow]:
    """Record a delivery (idempotent on ``reference``); returns the new stock of those products."""
    restock(session, store_id, [(line.product_id, line.quantity) for line in body.lines], body.reference)
    ids = {line.product_id for line in body.lines}
    rows = inventory(session, store_id, default_threshold=request.app.state.settings.low_stock_default)
    return [InventoryRow(**r) for r in rows if r["product_id"] in ids]


@router.get("/inventory/low-stock", response_model=list[InventoryRow])
def low_stock(request: Request, session: SessionDep, _p: Staff) -> list[InventoryRow]:
    """Every product at or under its low-stock threshold, in every store."""
    expire_orders(session)
    rows = inventory(session, None, default_threshold=request.app.state.settings.low_stock_default)
    return [InventoryRow(**r) for r in rows if r["low"]]
