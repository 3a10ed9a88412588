"""The per-store dashboard page: what one store reported, its alarms, commands, entries and sales."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_sync.dashboard.fragments import badge, local_time, table, zone
from cloud_sync.db.models import Alarm, Entry, Event, OperatorCommand, Sale, Store, StoreDevice, StoreState
from cloud_sync.services.commands import status_of

RECENT = 15
HISTORY = 30
FINAL_OK = {"ok"}
PENDING = {"sent"}
DEVICE_KIND = {"online": "online", "degraded": "pending"}


def _status_kind(status: str) -> str:
    return "online" if status in FINAL_OK else "pending" if status in PENDING else "offline"


def _args(args: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((args or {}).items()) if v is not None)


def _summary(store: Store, tz: str) -> str:
    online = "online" if store.online else "offline"
    occupancy = "-" if store.occupancy is None else f"{store.occupancy}/{store.occupancy_cap or '?'}"
    items = [
        ("Agent", f'<span class="badge {online}" data-availability="{escape(store.id)}">{online}</span>'),
        ("Door", f'<span data-door="{escape(store.id)}">{escape(store.door or "-")}</span>'),
        ("Lock", escape(store.lock or "-")),
        ("Mode", f'<span data-mode="{escape(store.id)}">{escape(store.mode or "-")}</span>'),
        ("Lockdown", f'<span data-lockdown="{escape(store.id)}">{"on" if store.lockdown else "off"}</span>'),
        ("Occupancy", f'<span data-occupancy="{escape(store.id)}">{escape(occupancy)}</span>'),
        ("Last seen", local_time(store.last_seen_at, tz)),
    ]
    return '<dl class="facts">' + "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in items) + "</dl>"


def _active_alarms(session: Session, store: Store, tz: str, can_ack: bool) -> str:
    rows = session.scalars(
        select(Alarm).where(Alarm.store_id == store.id, Alarm.active.is_(True)).order_by(Alarm.raised_at.desc())
    ).all()
    out = []
    for a in rows:
        if a.acknowledged_at is not None:
            ack = (
                f'<span data-acked="{escape(a.alarm)}">acknowledged by {escape(a.acknowledged_by or "?")} '
                f"at {local_time(a.acknowledged_at, tz)}</span>"
            )
        elif can_ack:
            ack = (
                f'<button type="button" data-ack-alarm="{escape(a.alarm)}" data-ack-source="{escape(a.source)}">'
                "Acknowledge</button>"
            )
        else:
            ack = "not acknowledged"
        out.append(
            [
                f'<span data-alarm="{escape(a.alarm)}">{escape(a.alarm)}</span>',
                escape(a.source),
                f'<span class="{escape(a.severity)}">{escape(a.severity)}</span>',
                escape(a.detail),
                local_time(a.raised_at, tz),
                ack,
            ]
        )
    return table(["Alarm", "Source", "Severity", "Detail", "Since", "Acknowledged"], out, "No open alarm.")


def _alarm_history(session: Session, store: Store, tz: str) -> str:
    events = session.scalars(
        select(Event)
        .where(Event.store_id == store.id, Event.type.in_(("alarm_raised", "alarm_cleared")))
        .order_by(Event.ts.desc(), Event.seq.desc())
        .limit(HISTORY)
    ).all()
    rows = []
    for e in events:
        try:
            body = json.loads(e.payload)
        except ValueError:
            body = {}
        state = "raised" if e.type == "alarm_raised" else "cleared"
        rows.append(
            [
                local_time(e.ts, tz),
                escape(str(body.get("alarm", "?"))),
                escape(str(body.get("source", ""))),
                badge(state, "offline" if state == "raised" else "online"),
                escape(str(body.get("severity", "")) if state == "raised" else ""),
                escape(str(body.get("detail", ""))),
            ]
        )
    return table(["When", "Alarm", "Source", "State", "Severity", "Detail"], rows, "No alarm was ever raised here.")


def _devices(session: Session, store: Store, tz: str) -> str:
    devices = session.scalars(select(StoreDevice).where(StoreDevice.store_id == store.id).order_by(StoreDevice.device))
    rows = [
        [
            escape(d.device),
            escape(d.kind),
            badge(d.status, DEVICE_KIND.get(d.status, "offline")),
            escape(d.detail),
            local_time(d.ts, tz),
        ]
        for d in devices
    ]
    states = session.scalars(select(StoreState).where(StoreState.store_id == store.id).order_by(StoreState.name)).all()
    reported = [
        [escape(s.name), local_time(s.updated_at, tz), f"<code>{escape(_compact(s.payload))}</code>"]
        for s in states
        if s.name != "door" and not s.name.startswith("device-")
    ]
    return table(["Device", "Kind", "Status", "Detail", "Reported"], rows, "No device status reported.") + table(
        ["Retained state", "Updated", "Value"], reported, "No other state reported."
    )


def _compact(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= 200 else text[:199] + "..."


def _commands(session: Session, store: Store, tz: str, now: datetime) -> str:
    commands = session.scalars(
        select(OperatorCommand)
        .where(OperatorCommand.store_id == store.id)
        .order_by(OperatorCommand.issued_at.desc())
        .limit(RECENT)
    ).all()
    rows = []
    for c in commands:
        status = status_of(c, now)
        cid = escape(c.correlation_id)
        rows.append(
            [
                local_time(c.issued_at, tz),
                f"<strong>{escape(c.name)}</strong> {escape(_args(c.args))}",
                escape(c.reason),
                escape(c.issued_by),
                f'<span class="badge {_status_kind(status)}" data-command-status="{cid}">{escape(status)}</span>',
                "-" if c.latency_ms is None else f"{c.latency_ms:.0f} ms",
                escape(c.reply_error or ""),
            ]
        )
    return table(
        ["Sent", "Command", "Reason", "By", "Reply", "Latency", "Error"], rows, "No command sent to this store yet."
    )


def _entries(session: Session, store: Store, tz: str) -> str:
    entries = session.scalars(
        select(Entry).where(Entry.store_id == store.id).order_by(Entry.ts.desc()).limit(RECENT)
    ).all()
    rows = [
        [
            local_time(e.ts, tz),
            escape(e.door_id),
            escape(e.member_id or "-"),
            badge("granted", "online") if e.granted else badge("denied", "offline"),
            escape(" ".join(x for x in (e.reason, e.via) if x)),
        ]
        for e in entries
    ]
    return table(["When", "Door", "Member", "Decision", "Why / how"], rows, "No entry yet.")


def _sales(session: Session, store: Store, tz: str) -> str:
    sales = session.scalars(select(Sale).where(Sale.store_id == store.id).order_by(Sale.ts.desc()).limit(RECENT)).all()
    rows = [
        [
            local_time(s.ts, tz),
            escape(s.station_id),
            escape(s.member_id),
            f"{s.total_cents / 100:.2f}",
            escape(s.payment_mode),
        ]
        for s in sales
    ]
    return table(["When", "Station", "Member", "Total", "Payment"], rows, "No sale yet.")


def store_state(session: Session, store_id: str, *, can_ack: bool, now: datetime) -> dict[str, Any] | None:
    """Return the store page's sections (escaped HTML) and a version hash, or ``None`` for an unknown store."""
    store = session.get(Store, store_id)
    if store is None:
        return None
    tz, _ = zone(store.time_zone)
    sections = {
        "summary": _summary(store, tz),
        "active-alarms": _active_alarms(session, store, tz, can_ack),
        "alarm-history": _alarm_history(session, store, tz),
        "devices": _devices(session, store, tz),
        "commands": _commands(session, store, tz, now),
        "entries": _entries(session, store, tz),
        "sales": _sales(session, store, tz),
    }
    version = hashlib.sha256(json.dumps(sections, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "version": version,
        "sections": sections,
        "store": {"id": store.id, "name": store.name, "time_zone": tz, "retired": store.retired_at is not None},
    }
