"""``store_offline`` alerts: a store whose last will says offline, or silent too long, until it reports again.

"Last seen" is when the ingest last received a live (not retained-replayed) message of the
store's own: its ``online`` availability or any retained state (the agent refreshes
``state/delivery`` every 5 s while connected). The broker's ``offline`` last will does not
count: it says when the broker noticed, not when the store spoke.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud_sync.db.base import aware
from cloud_sync.db.dialect import insert_ignore
from cloud_sync.db.models import Alert, Store

KIND = "store_offline"


@dataclass(frozen=True)
class StoreSeen:
    """What the decision needs to know of one store."""

    id: str
    online: bool
    availability_at: datetime | None
    last_seen_at: datetime | None
    retired: bool = False


def offline_reason(store: StoreSeen, now: datetime, after: timedelta) -> str | None:
    """Return why ``store`` counts as offline at ``now`` (None when it does not, or is retired)."""
    if store.retired:
        return None
    if store.availability_at is not None and not store.online:
        return "its connection closed (last will: offline)"
    if store.last_seen_at is not None and now - store.last_seen_at > after:
        return f"no message for more than {int(after.total_seconds())} s"
    return None


@dataclass
class OfflineChanges:
    """Stores that went offline (with the reason) and stores whose open alert is to be resolved."""

    went_offline: list[tuple[StoreSeen, str]] = field(default_factory=list)
    back: list[str] = field(default_factory=list)


def decide(stores: Sequence[StoreSeen], open_alerts: set[str], now: datetime, after: timedelta) -> OfflineChanges:
    """Return which stores need a new store_offline alert and which open ones are over."""
    changes = OfflineChanges()
    for store in stores:
        reason = offline_reason(store, now, after)
        if reason is not None and store.id not in open_alerts:
            changes.went_offline.append((store, reason))
        elif reason is None and store.id in open_alerts:
            changes.back.append(store.id)
    return changes


def alert_message(store: StoreSeen, reason: str) -> str:
    """Return the one-line alert text naming the store and when it was last seen."""
    seen = store.last_seen_at.strftime("%Y-%m-%d %H:%M:%S UTC") if store.last_seen_at else "never"
    return f"store {store.id} is offline: {reason}; last seen {seen}"


def check(session: Session, now: datetime, after: timedelta) -> OfflineChanges:
    """Raise and resolve store_offline alerts; return the changes this call made."""
    rows = session.execute(
        select(Store.id, Store.online, Store.availability_at, Store.last_seen_at, Store.retired_at).order_by(Store.id)
    ).all()
    stores = [
        StoreSeen(
            r.id,
            bool(r.online),
            aware(r.availability_at) if r.availability_at else None,
            aware(r.last_seen_at) if r.last_seen_at else None,
            r.retired_at is not None,
        )
        for r in rows
    ]
    open_alerts = {
        s
        for s in session.scalars(select(Alert.store_id).where(Alert.kind == KIND, Alert.resolved_at.is_(None)))
        if s is not None
    }
    planned = decide(stores, open_alerts, now, after)
    made = OfflineChanges()
    dialect = session.get_bind().dialect.name
    for store, reason in planned.went_offline:
        last_seen = store.last_seen_at.isoformat() if store.last_seen_at else None
        result: Any = session.execute(
            insert_ignore(Alert, dialect)
            .values(
                kind=KIND,
                store_id=store.id,
                severity="critical",
                message=alert_message(store, reason),
                details={"last_seen": last_seen, "reason": reason},
                dedupe_key=f"{KIND}:{store.id}:{last_seen or 'never'}"[:200],
                created_at=now,
            )
            .returning(Alert.id)
        )
        if result.scalar_one_or_none() is not None:  # another watcher may have raised it in between
            made.went_offline.append((store, reason))
    for store_id in planned.back:
        result = session.execute(
            update(Alert)
            .where(Alert.kind == KIND, Alert.store_id == store_id, Alert.resolved_at.is_(None))
            .values(resolved_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            made.back.append(store_id)
    return made
