"""The ``notifications`` table: record new alarms and alerts once, claim due rows, record attempts.

Every statement is safe with several ``cloud serve`` processes on one database: the unique
``dedupe_key`` makes a notification once per occurrence, and a claim is a conditional update
(``attempts`` and ``next_attempt_at`` unchanged since read) that moves ``next_attempt_at`` past a
lease, so only one process sends a row; PostgreSQL also skips rows another claim has locked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud_sync.db.base import aware
from cloud_sync.db.dialect import insert_ignore
from cloud_sync.db.models import Alarm, Alert, Notification
from cloud_sync.services.notifications import (
    AlarmRow,
    AlertRow,
    NewNotification,
    NextState,
    from_alarm,
    from_alert,
    severities_at_least,
)


def candidates(
    session: Session, now: datetime, *, min_severity: str, lookback: timedelta, public_url: str | None
) -> list[NewNotification]:
    """Return the notifications the alarms raised and alerts created within ``lookback`` call for."""
    since = now - lookback
    wanted = severities_at_least(min_severity)
    out: list[NewNotification] = []
    alarms = session.scalars(
        select(Alarm).where(Alarm.raised_at.is_not(None), Alarm.raised_at >= since, Alarm.severity.in_(wanted))
    )
    for a in alarms:
        assert a.raised_at is not None
        row = AlarmRow(a.store_id, a.alarm, a.source, a.severity, a.detail, aware(a.raised_at))
        out.append(from_alarm(row, public_url))
    alerts = session.scalars(select(Alert).where(Alert.created_at >= since, Alert.severity.in_(wanted)))
    for al in alerts:
        row2 = AlertRow(al.id, al.store_id, al.kind, al.severity, al.message, dict(al.details), aware(al.created_at))
        out.append(from_alert(row2, public_url))
    return out


def enqueue(session: Session, items: Sequence[NewNotification], now: datetime) -> list[NewNotification]:
    """Insert the notifications not recorded yet; return those this call inserted."""
    if not items:
        return []
    keys = [n.dedupe_key for n in items]
    known: set[str] = set()
    for i in range(0, len(keys), 500):
        known.update(
            session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys[i : i + 500])))
        )
    dialect = session.get_bind().dialect.name
    inserted: list[NewNotification] = []
    for n in items:
        if n.dedupe_key in known:
            continue
        known.add(n.dedupe_key)
        result = session.execute(
            insert_ignore(Notification, dialect, "dedupe_key")
            .values(
                dedupe_key=n.dedupe_key,
                store_id=n.store_id,
                kind=n.kind,
                severity=n.severity,
                payload=n.payload,
                created_at=now,
                status="pending",
                attempts=0,
                next_attempt_at=now,
            )
            .returning(Notification.id)
        )
        if result.scalar_one_or_none() is not None:  # another process may have inserted it in between
            inserted.append(n)
    return inserted


@dataclass(frozen=True)
class Claimed:
    """A notification this process holds for one attempt (``attempts`` counts this one)."""

    id: int
    dedupe_key: str
    payload: dict[str, Any]
    attempts: int


def claim_due(session: Session, now: datetime, *, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to ``limit`` pending notifications due at ``now``, each leased until ``now + lease``."""
    query = (
        select(Notification.id, Notification.attempts)
        .where(Notification.status == "pending", Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed: list[Claimed] = []
    for row_id, attempts in session.execute(query).all():
        result: Any = session.execute(
            update(Notification)
            .where(
                Notification.id == row_id,
                Notification.status == "pending",
                Notification.attempts == attempts,
                Notification.next_attempt_at <= now,
            )
            .values(attempts=attempts + 1, next_attempt_at=now + lease)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            continue  # another process claimed it first
        key, payload = session.execute(
            select(Notification.dedupe_key, Notification.payload).where(Notification.id == row_id)
        ).one()
        claimed.append(Claimed(row_id, key, dict(payload), attempts + 1))
    return claimed


def record_attempt(session: Session, claim: Claimed, state: NextState) -> bool:
    """Write the outcome of ``claim``'s attempt; False if the row moved on meanwhile (lease lost)."""
    result: Any = session.execute(
        update(Notification)
        .where(Notification.id == claim.id, Notification.attempts == claim.attempts, Notification.status == "pending")
        .values(
            status=state.status,
            next_attempt_at=state.next_attempt_at,
            last_error=state.last_error[:2000] if state.last_error else None,
            delivered_at=state.delivered_at,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)
