"""What happened: entries, transactions, alerts, alarms, raw events, dead letters, payments."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import Select, select

from cloud_sync.api.deps import Operator, PagingDep, SessionDep, Staff
from cloud_sync.api.operator_schemas import AlarmOut
from cloud_sync.api.pagination import page_of, paginate
from cloud_sync.api.schemas import (
    AlertOut,
    DeadLetterOut,
    EntryOut,
    EventOut,
    Page,
    PaymentOut,
    SaleOut,
    Timestamp,
)
from cloud_sync.db.base import utcnow
from cloud_sync.db.models import Alarm, Alert, DeadLetter, Entry, Event, Payment, Sale
from cloud_sync.services.alerts import ALERT_KINDS
from cloud_sync.services.errors import Invalid, NotFound

router = APIRouter(tags=["activity"])
Filter = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]
Since = Annotated[Timestamp | None, Query(description="Only items at or after this time (ISO 8601).")]
Until = Annotated[Timestamp | None, Query(description="Only items before this time (ISO 8601).")]


def _window(query: Select[Any], column: Any, since: datetime | None, until: datetime | None) -> Select[Any]:
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


def _entries_query(
    store_id: Filter = None,
    member_id: Filter = None,
    granted: bool | None = None,
    since: Since = None,
    until: Until = None,
) -> Select[Any]:
    """The door decisions matching the filters, newest first (shared by the list and the CSV)."""
    query = select(Entry).order_by(Entry.ts.desc(), Entry.event_id)
    if store_id:
        query = query.where(Entry.store_id == store_id)
    if member_id:
        query = query.where(Entry.member_id == member_id)
    if granted is not None:
        query = query.where(Entry.granted.is_(granted))
    return _window(query, Entry.ts, since, until)


EntriesQuery = Annotated[Select[Any], Depends(_entries_query)]


@router.get("/entries", response_model=Page[EntryOut])
def entries(session: SessionDep, _p: Staff, paging: PagingDep, query: EntriesQuery) -> Page[EntryOut]:
    """Door decisions, newest first."""
    return page_of(session, query, paging, EntryOut)


ENTRIES_CSV_MAX_ROWS = 100_000
ENTRY_CSV_COLUMNS = ("ts", "store_id", "door_id", "member_id", "granted", "reason", "via", "event_id")


@router.get(
    "/entries.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The access log as CSV"}},
)
def entries_csv(session: SessionDep, _p: Staff, query: EntriesQuery) -> Response:
    """The access log (same filters as ``/entries``) as a CSV file, newest first.

    At most 100,000 rows: a wider window is refused (422) rather than cut short silently.
    """
    rows = session.scalars(query.limit(ENTRIES_CSV_MAX_ROWS + 1)).all()
    if len(rows) > ENTRIES_CSV_MAX_ROWS:
        raise Invalid(f"more than {ENTRIES_CSV_MAX_ROWS} entries: narrow since/until or filter by store")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ENTRY_CSV_COLUMNS)
    for e in rows:  # ts comes back as aware UTC from the column type
        who, reason, via = e.member_id or "", e.reason or "", e.via or ""
        writer.writerow([e.ts.isoformat(), e.store_id, e.door_id, who, e.granted, reason, via, e.event_id])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="entries.csv"'},
    )


@router.get("/transactions", response_model=Page[SaleOut])
def transactions(
    session: SessionDep,
    _p: Operator,
    paging: PagingDep,
    store_id: Filter = None,
    member_id: Filter = None,
    payment_mode: Literal["online", "offline"] | None = None,
    since: Since = None,
    until: Until = None,
) -> Page[SaleOut]:
    """Completed sales, newest first."""
    query = select(Sale).order_by(Sale.ts.desc(), Sale.sale_id)
    if store_id:
        query = query.where(Sale.store_id == store_id)
    if member_id:
        query = query.where(Sale.member_id == member_id)
    if payment_mode:
        query = query.where(Sale.payment_mode == payment_mode)
    return page_of(session, _window(query, Sale.ts, since, until), paging, SaleOut)


@router.get("/alerts", response_model=Page[AlertOut])
def alerts(
    session: SessionDep,
    _p: Staff,
    paging: PagingDep,
    store_id: Filter = None,
    kind: Annotated[Literal[ALERT_KINDS] | None, Query()] = None,  # type: ignore[valid-type]
    open_only: Annotated[bool, Query(alias="open")] = False,
    since: Since = None,
    until: Until = None,
) -> Page[AlertOut]:
    """Alerts raised by the cloud (reconciliation, low stock), newest first."""
    query = select(Alert).order_by(Alert.created_at.desc(), Alert.id.desc())
    if store_id:
        query = query.where(Alert.store_id == store_id)
    if kind:
        query = query.where(Alert.kind == kind)
    if open_only:
        query = query.where(Alert.resolved_at.is_(None))
    return page_of(session, _window(query, Alert.created_at, since, until), paging, AlertOut)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve_alert(session: SessionDep, _p: Staff, alert_id: int = Path(ge=1, le=2**31 - 1)) -> AlertOut:
    """Mark an alert handled."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    if alert.resolved_at is None:
        alert.resolved_at = utcnow()
        session.flush()
    return AlertOut.model_validate(alert)


@router.get("/alarms", response_model=Page[AlarmOut])
def alarms(
    session: SessionDep, _p: Staff, paging: PagingDep, store_id: Filter = None, active: bool | None = None
) -> Page[AlarmOut]:
    """Store alarms' current state (history is in ``/events``)."""
    query = select(Alarm).order_by(Alarm.store_id, Alarm.alarm, Alarm.source)
    if store_id:
        query = query.where(Alarm.store_id == store_id)
    if active is not None:
        query = query.where(Alarm.active.is_(active))
    return page_of(session, query, paging, AlarmOut)


@router.get("/events", response_model=Page[EventOut])
def events(
    session: SessionDep,
    _p: Operator,
    paging: PagingDep,
    store_id: Filter = None,
    type_: Annotated[str | None, Query(alias="type", max_length=32, pattern=r"^[a-z_]*$")] = None,
    since: Since = None,
    until: Until = None,
) -> Page[EventOut]:
    """Raw events as received, newest first."""
    query = select(Event).order_by(Event.ts.desc(), Event.event_id)
    if store_id:
        query = query.where(Event.store_id == store_id)
    if type_:
        query = query.where(Event.type == type_)
    return page_of(session, _window(query, Event.ts, since, until), paging, EventOut)


@router.get("/dead-letters", response_model=Page[DeadLetterOut])
def dead_letters(session: SessionDep, _p: Operator, paging: PagingDep, store_id: Filter = None) -> Page[DeadLetterOut]:
    """Messages the ingest refused, with the reason, newest first."""
    query = select(DeadLetter).order_by(DeadLetter.id.desc())
    if store_id:
        query = query.where(DeadLetter.store_id == store_id)
    rows, total = paginate(session, query, paging)
    items = [
        DeadLetterOut(
            id=r.id,
            received_at=r.received_at,
            topic=r.topic,
            store_id=r.store_id,
            reason=r.reason,
            payload_preview=r.payload[:500].decode("utf-8", errors="replace"),
        )
        for r in rows
    ]
    return Page(items=items, total=total, limit=paging.limit, offset=paging.offset)


@router.get("/payments", response_model=Page[PaymentOut])
def payments(
    session: SessionDep, _p: Operator, paging: PagingDep, member_id: Filter = None, store_id: Filter = None
) -> Page[PaymentOut]:
    """Online payment authorisations, newest first."""
    query = select(Payment).order_by(Payment.created_at.desc(), Payment.request_id)
    if member_id:
        query = query.where(Payment.member_id == member_id)
    if store_id:
        query = query.where(Payment.store_id == store_id)
    rows, total = paginate(session, query, paging)
    return Page(
        items=[PaymentOut.model_validate(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset
    )
