"""A store with something in every section of its dashboard page, written straight into the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from cloud_sync.db.models import (
    Alarm,
    Entry,
    Event,
    OperatorCommand,
    Sale,
    Store,
    StoreDevice,
    StoreState,
)
from cloud_sync.db.session import make_session_factory
from contracts.messages import AlarmCleared, AlarmKind, AlarmRaised

# 01:13 UTC in January is 02:13 in Stockholm (UTC+1).
RAISED = datetime(2026, 1, 15, 1, 13, 0, tzinfo=UTC)


def seed_store(engine: Engine, store_id: str = "night-7", time_zone: str = "Europe/Stockholm") -> None:
    """Write a store with alarms (and their history), devices, commands, entries and a sale."""
    forced = AlarmRaised(
        store_id=store_id, alarm=AlarmKind.DOOR_FORCED, source="main", severity="critical", ts=RAISED, seq=3
    )
    held = AlarmRaised(store_id=store_id, alarm=AlarmKind.DOOR_HELD_OPEN, source="main", ts=RAISED - timedelta(hours=2))
    held_clear = AlarmCleared(
        store_id=store_id, alarm=AlarmKind.DOOR_HELD_OPEN, source="main", ts=RAISED - timedelta(minutes=50), seq=2
    )
    with make_session_factory(engine)() as session, session.begin():
        session.add(
            Store(
                id=store_id,
                name="Night shop on the corner",
                time_zone=time_zone,
                online=True,
                door="closed",
                lock="locked",
                mode="night",
                occupancy=2,
                occupancy_cap=5,
                last_seen_at=RAISED,
            )
        )
        session.add(
            Alarm(
                store_id=store_id,
                alarm="door_forced",
                source="main",
                active=True,
                severity="critical",
                detail="opened while locked",
                raised_at=RAISED,
                event_ts=RAISED,
                event_seq=3,
            )
        )
        events: tuple[AlarmRaised | AlarmCleared, ...] = (held, held_clear, forced)
        for i, e in enumerate(events):
            session.add(
                Event(
                    event_id=e.event_id, store_id=store_id, type=e.type, ts=e.ts, seq=i + 1, payload=e.model_dump_json()
                )
            )
        session.add(
            StoreDevice(store_id=store_id, device="scale-co1", kind="scale", status="online", detail="", ts=RAISED)
        )
        session.add(
            StoreDevice(
                store_id=store_id,
                device="reader-main",
                kind="reader",
                status="offline",
                detail="no answer on /dev/serial/by-id/usb-reader",
                ts=RAISED,
            )
        )
        session.add(StoreState(store_id=store_id, name="delivery", payload={"pending": 3}, updated_at=RAISED))
        session.add(
            OperatorCommand(
                correlation_id=f"{store_id}-ok",
                store_id=store_id,
                name="unlock",
                args={"duration_s": 5},
                reason="delivery at the back",
                issued_by="alice",
                issued_at=RAISED,
                expires_at=RAISED + timedelta(seconds=30),
                status="ok",
                replied_at=RAISED + timedelta(milliseconds=84),
                latency_ms=84.0,
            )
        )
        session.add(
            OperatorCommand(
                correlation_id=f"{store_id}-lost",
                store_id=store_id,
                name="lockdown",
                args={"active": True},
                reason="police asked",
                issued_by="alice",
                issued_at=RAISED + timedelta(minutes=1),
                expires_at=RAISED + timedelta(minutes=1, seconds=30),
                status="sent",
            )
        )
        for granted in (True, False):
            session.add(
                Entry(
                    event_id=uuid.uuid4(),
                    store_id=store_id,
                    door_id="main",
                    ts=RAISED - timedelta(minutes=5 if granted else 4),
                    member_id="m-1" if granted else None,
                    granted=granted,
                    reason=None if granted else "unknown_code",
                    via="qr",
                )
            )
        session.add(
            Sale(
                sale_id=uuid.uuid4(),
                event_id=uuid.uuid4(),
                store_id=store_id,
                station_id="co1",
                member_id="m-1",
                ts=RAISED - timedelta(minutes=3),
                subtotal_cents=1250,
                discount_cents=0,
                total_cents=1250,
                payment_mode="online",
            )
        )
