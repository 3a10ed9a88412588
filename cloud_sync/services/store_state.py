""" "Newest wins" store state from the ingest: alarms, mode, applied sync versions, availability, retained state.

Every function here is idempotent for any copy of a message and independent of arrival order
(an older message changes nothing), so the ingest applies them in a short transaction of their
own after its main commit: hot rows (one alarm per store) stay locked for milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import case, update
from sqlalchemy.orm import Session

from cloud_sync.db.base import aware, table_of
from cloud_sync.db.dialect import insert, upsert
from cloud_sync.db.models import Alarm, Store, StoreDevice, StoreState, StoreSync
from contracts.messages import AlarmCleared, AlarmRaised, DeviceStatus, DoorState, Event, ModeChanged, SyncApplied


def apply_shared_events(session: Session, events: Sequence[Event]) -> None:
    """Upsert alarm state, store mode and applied sync versions from ``events`` (any copies, any order)."""
    alarms = [e for e in events if isinstance(e, AlarmRaised | AlarmCleared)]
    if alarms:
        apply_alarms(session, alarms)
    apply_modes(session, [e for e in events if isinstance(e, ModeChanged)])
    apply_sync_versions(session, [e for e in events if isinstance(e, SyncApplied)])


def apply_alarms(session: Session, events: Sequence[AlarmRaised | AlarmCleared]) -> None:
    """Upsert each alarm's state; an event older than the recorded one changes nothing."""
    latest: dict[tuple[str, str, str], AlarmRaised | AlarmCleared] = {}
    for e in events:
        key = (e.store_id, e.alarm.value, e.source)
        if key not in latest or (aware(latest[key].ts), latest[key].seq) < (aware(e.ts), e.seq):
            latest[key] = e
    table = table_of(Alarm)
    rows: list[dict[str, Any]] = []
    for key in sorted(latest):  # one statement in one key order: concurrent writers never deadlock
        e = latest[key]
        raised = e if isinstance(e, AlarmRaised) else None
        rows.append(
            {
                "store_id": e.store_id,
                "alarm": e.alarm.value,
                "source": e.source,
                "event_ts": aware(e.ts),
                "event_seq": e.seq,
                "active": raised is not None,
                "severity": raised.severity if raised else "info",
                "detail": raised.detail if raised else "",
                "raised_at": aware(e.ts) if raised else None,
                "cleared_at": None if raised else aware(e.ts),
            }
        )
    ins = insert(table, session.get_bind().dialect.name)
    new = ins.excluded
    newer = (table.c.event_ts < new.event_ts) | (
        (table.c.event_ts == new.event_ts) & (table.c.event_seq < new.event_seq)
    )
    # A clearing keeps what the raise said (severity, detail, when it was raised).
    kept_on_clear = {c: case((new.active, new[c]), else_=table.c[c]) for c in ("severity", "detail", "raised_at")}
    set_ = {c: new[c] for c in ("active", "cleared_at", "event_ts", "event_seq")} | kept_on_clear
    # A new raise is a new occurrence: the previous acknowledgement does not cover it.
    set_ |= {c: case((new.active, None), else_=table.c[c]) for c in ("acknowledged_by", "acknowledged_at")}
    stmt = ins.on_conflict_do_update(index_elements=["store_id", "alarm", "source"], set_=set_, where=newer)
    session.execute(stmt, rows)  # executemany: one pipelined round trip on psycopg


def apply_modes(session: Session, events: Sequence[ModeChanged]) -> None:
    """Set each store's mode and lockdown from its newest ``mode_changed``."""
    for mode in sorted(events, key=lambda m: (m.store_id, aware(m.ts))):
        session.execute(
            update(Store)
            .where(Store.id == mode.store_id, Store.mode_at.is_(None) | (Store.mode_at <= mode.ts))
            .values(mode=mode.mode.value, lockdown=mode.lockdown, mode_at=mode.ts)
            .execution_options(synchronize_session=False)
        )


def apply_sync_versions(session: Session, events: Sequence[SyncApplied]) -> None:
    """Record the highest downlink version each store applied per channel."""
    if not events:
        return
    latest: dict[tuple[str, str], SyncApplied] = {}
    for e in events:
        key = (e.store_id, e.channel)
        if key not in latest or latest[key].version < e.version:
            latest[key] = e
    session.execute(
        upsert(
            table_of(StoreSync),
            session.get_bind().dialect.name,
            ["store_id", "channel"],
            ["version", "applied_at"],
            "version",
        ),
        [
            {"store_id": s, "channel": c, "version": e.version, "applied_at": e.ts}
            for (s, c), e in sorted(latest.items())
        ],
    )


def apply_availability(session: Session, items: Sequence[tuple[str, bool]], now: datetime) -> None:
    """Set each store's ``online`` flag from its (store, online) messages, the last one winning.

    ``last_seen_at`` is left to :func:`touch_last_seen`.
    """
    if not items:
        return
    last: dict[str, bool] = {}
    for store, online in items:
        last[store] = online  # in arrival order: the newest wins
    for store in sorted(last):
        session.execute(
            update(Store)
            .where(Store.id == store)
            .values(online=last[store], availability_at=now)
            .execution_options(synchronize_session=False)
        )


def touch_last_seen(session: Session, stores: Sequence[str], now: datetime) -> None:
    """Set ``last_seen_at`` of ``stores``: they sent a live message (availability online, a state).

    The ingest leaves out the broker's ``offline`` last will and retained copies replayed on
    subscribe: neither says the store spoke now.
    """
    for store in sorted(set(stores)):
        session.execute(
            update(Store)
            .where(Store.id == store, Store.last_seen_at.is_(None) | (Store.last_seen_at < now))
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )


def apply_states(
    session: Session, items: Sequence[tuple[str, str, BaseModel | dict[str, Any] | None]], now: datetime
) -> None:
    """Store each retained (store, name, value) state; ``None`` (a cleared retained message) deletes it.

    A door state also updates the store's mode, door and occupancy; a device status upserts the
    device row. Both keep the newest by their own timestamp.
    """
    dialect = session.get_bind().dialect.name
    for store, name, value in items:
        if value is None:
            session.execute(table_of(StoreState).delete().where(StoreState.store_id == store, StoreState.name == name))
            continue
        data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        session.execute(
            upsert(table_of(StoreState), dialect, ["store_id", "name"], ["payload", "updated_at"]),
            {"store_id": store, "name": name, "payload": data, "updated_at": now},
        )
        if isinstance(value, DoorState):
            _apply_door_state(session, store, value, now)
        elif isinstance(value, DeviceStatus):
            session.execute(
                upsert(
                    table_of(StoreDevice), dialect, ["store_id", "device"], ["kind", "status", "detail", "ts"], "ts"
                ),
                {
                    "store_id": store,
                    "device": value.device,
                    "kind": value.kind,
                    "status": value.status,
                    "detail": value.detail,
                    "ts": value.ts,
                },
            )


def _apply_door_state(session: Session, store: str, value: DoorState, now: datetime) -> None:
    session.execute(
        update(Store)
        .where(Store.id == store, (Store.door_state_at.is_(None)) | (Store.door_state_at <= value.ts))
        .values(
            mode=value.mode.value,
            mode_at=value.ts,
            lockdown=value.lockdown,
            door=value.door,
            lock=value.lock,
            occupancy=value.occupancy,
            occupancy_cap=value.occupancy_cap,
            door_alarms=list(value.alarms),
            door_state_at=value.ts,
        )
        .execution_options(synchronize_session=False)
    )
