"""The event log of the ingest: stores, events (deduplicated on ``event_id``), entries, dead letters.

:func:`record_events` inserts with ``ON CONFLICT DO NOTHING RETURNING event_id``, so only events
never seen before get effects (:func:`apply_new_events`); the "newest wins" effects of every copy
are in ``cloud_sync.services.store_state``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from cloud_sync.db.base import aware, table_of
from cloud_sync.db.bulk import insert_ignore_rows
from cloud_sync.db.models import DeadLetter, Entry, Store
from cloud_sync.db.models import Event as EventRow
from cloud_sync.services.sales import LowStock, alert_abandoned_checkout, record_sales
from contracts.messages import AccessDenied, AccessGranted, CheckoutAbandoned, Event, SaleCompleted

MAX_DEAD_PAYLOAD = 64 * 1024


@dataclass
class RecordedEvents:
    """What :func:`record_events` wrote: the new events (oldest first) and the counts."""

    new: list[Event] = field(default_factory=list)
    received: int = 0
    duplicates: int = 0
    event_ids: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class DeadLetterIn:
    """A message the ingest refuses, kept with the reason."""

    topic: str
    payload: bytes
    reason: str
    store_id: str | None


def ensure_stores(session: Session, store_ids: Iterable[str], now: datetime) -> None:
    """Insert the stores not known yet (unregistered, offline), skipping those that exist."""
    stores = sorted(store_ids)
    if not stores:
        return
    insert_ignore_rows(
        session,
        table_of(Store),
        [
            {
                "id": s,
                "name": s,
                "created_at": now,
                "registered": False,
                "online": False,
                "lockdown": False,
                "address": "",
            }
            for s in stores
        ],
    )


def record_events(session: Session, events: Sequence[tuple[Event, bytes]], now: datetime) -> RecordedEvents:
    """Insert (event, raw payload) pairs once per ``event_id``; return the events new to the log."""
    out = RecordedEvents(received=len(events))
    unique: dict[uuid.UUID, Event] = {}
    payloads: dict[uuid.UUID, str] = {}
    for ev, payload in events:
        if ev.event_id not in unique:
            unique[ev.event_id] = ev
            payloads[ev.event_id] = payload.decode()
    if not unique:
        return out
    rows = [
        {
            "event_id": ev.event_id,
            "store_id": ev.store_id,
            "type": ev.type,
            "ts": ev.ts,
            "seq": ev.seq,
            "payload": payloads[ev.event_id],
            "ingested_at": now,
        }
        for ev in sorted(unique.values(), key=lambda e: e.event_id)  # one lock order for all workers
    ]
    inserted = set(insert_ignore_rows(session, table_of(EventRow), rows, returning="event_id"))
    out.duplicates = len(events) - len(inserted)
    out.event_ids = list(unique)
    out.new = sorted((ev for eid, ev in unique.items() if eid in inserted), key=lambda e: (aware(e.ts), e.seq))
    return out


def apply_new_events(session: Session, events: Sequence[Event], low_stock: LowStock) -> list[SaleCompleted]:
    """Write the effects of events seen for the first time; return the offline sales still to charge."""
    record_entries(session, [e for e in events if isinstance(e, AccessGranted | AccessDenied)])
    for e in events:
        if isinstance(e, CheckoutAbandoned):
            alert_abandoned_checkout(session, e)
    return record_sales(session, [e for e in events if isinstance(e, SaleCompleted)], low_stock)


def record_entries(session: Session, events: Sequence[AccessGranted | AccessDenied]) -> None:
    """Write one entry row per access decision."""
    if not events:
        return
    insert_ignore_rows(
        session,
        table_of(Entry),
        [
            {
                "event_id": e.event_id,
                "store_id": e.store_id,
                "door_id": e.door_id,
                "ts": e.ts,
                "member_id": e.member_id,
                "granted": isinstance(e, AccessGranted),
                "reason": e.reason.value if isinstance(e, AccessDenied) else None,
                "via": e.via if isinstance(e, AccessGranted) else None,
            }
            for e in events
        ],
    )


def record_dead_letters(session: Session, dead: Sequence[DeadLetterIn], now: datetime) -> None:
    """Keep refused messages (topic and payload truncated) with the reason."""
    if not dead:
        return
    insert_ignore_rows(
        session,
        table_of(DeadLetter),
        [
            {
                "received_at": now,
                "topic": _printable(d.topic[:1000]),
                "store_id": d.store_id,
                "payload": d.payload[:MAX_DEAD_PAYLOAD],
                "reason": _printable(d.reason),
            }
            for d in dead
        ],
    )


def _printable(text: str) -> str:
    """Return ``text`` without NUL (PostgreSQL text cannot hold it), so every reason can be kept."""
    return text.replace("\x00", "\\x00")
