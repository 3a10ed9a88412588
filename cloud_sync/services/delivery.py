"""Per-store delivery progress: how far the cloud holds every event a store wrote, and its gaps.

A store numbers its events 1, 2, 3... (``seq``, its outbox row id). After each commit the ingest
advances ``committed_through`` over the contiguous run of committed sequence numbers; the store
is told in its delivery acknowledgement (``contracts.messages.DeliveryAck``). A gap (a higher
sequence committed while a lower one is missing) that stays open longer than the alert threshold
raises a ``delivery_gap`` alert; it is resolved when the gap closes. The store resends whatever
the cloud has not acknowledged, so a gap normally closes by itself within the store's
acknowledgement timeout; one that does not is an event the store dropped (telemetry under its
outbox bound) or lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud_sync.db.base import aware
from cloud_sync.db.dialect import insert_ignore
from cloud_sync.db.models import Alert, StoreDelivery
from cloud_sync.db.models import Event as EventRow
from cloud_sync.services.alerts import raise_alert

WALK = 2_000  # sequence numbers read per step while advancing


@dataclass(frozen=True)
class Progress:
    """Where one store's delivery stands."""

    store_id: str
    committed_through: int
    max_seq: int
    gap_since: datetime | None


def advance(
    session: Session, seqs: Mapping[str, Sequence[int]], now: datetime, *, gap_alert_after: timedelta
) -> dict[str, Progress]:
    """Advance the progress of every store in ``seqs`` (sequence numbers just committed)."""
    stores = sorted(s for s, values in seqs.items() if values)  # one lock order for every writer
    if not stores:
        return {}
    dialect = session.get_bind().dialect.name
    session.execute(
        insert_ignore(StoreDelivery, dialect),
        [{"store_id": s, "committed_through": 0, "max_seq": 0, "updated_at": now} for s in stores],
    )
    out: dict[str, Progress] = {}
    for store in stores:
        row = session.execute(
            select(StoreDelivery).where(StoreDelivery.store_id == store).with_for_update()
        ).scalar_one()
        through = _walk(session, store, row.committed_through)
        row.committed_through = through
        row.max_seq = max(row.max_seq, *seqs[store])
        row.updated_at = now
        if row.max_seq > through:
            row.gap_since = row.gap_since or now
            if now - aware(row.gap_since) >= gap_alert_after:
                _raise_gap(session, row, now)
        elif row.gap_since is not None:
            row.gap_since = None
            _resolve_gaps(session, store, now)
        out[store] = Progress(store, through, row.max_seq, row.gap_since)
    return out


def _walk(session: Session, store: str, through: int) -> int:
    """Return the end of the contiguous run of committed sequence numbers after ``through``."""
    while True:
        seqs = session.scalars(
            select(EventRow.seq)
            .where(EventRow.store_id == store, EventRow.seq > through)
            .order_by(EventRow.seq)
            .limit(WALK)
        ).all()
        for seq in seqs:
            if seq == through:
                continue  # the same number twice (a store whose outbox was replaced)
            if seq != through + 1:
                return through
            through = seq
        if len(seqs) < WALK:
            return through


def missing_ranges(session: Session, store: str, *, limit: int = 100) -> list[tuple[int, int]]:
    """Return up to ``limit`` (first, last) ranges of sequence numbers not committed below the highest seen."""
    row = session.get(StoreDelivery, store)
    if row is None or row.max_seq <= row.committed_through:
        return []
    ranges: list[tuple[int, int]] = []
    expected = row.committed_through + 1
    seqs = session.scalars(
        select(EventRow.seq)
        .where(EventRow.store_id == store, EventRow.seq > row.committed_through, EventRow.seq <= row.max_seq)
        .order_by(EventRow.seq)
        .limit(100_000)
    ).all()
    for seq in seqs:
        if seq > expected:
            ranges.append((expected, seq - 1))
            if len(ranges) >= limit:
                return ranges
        expected = max(expected, seq + 1)
    if expected <= row.max_seq and len(ranges) < limit:
        ranges.append((expected, row.max_seq))
    return ranges


def _raise_gap(session: Session, row: StoreDelivery, now: datetime) -> None:
    waited = int((now - aware(row.gap_since or now)).total_seconds())
    first = row.committed_through + 1
    raise_alert(
        session,
        kind="delivery_gap",
        store_id=row.store_id,
        severity="critical",
        message=f"store {row.store_id}: event {first} (and maybe more up to {row.max_seq}) not received for {waited} s",
        details={"committed_through": row.committed_through, "max_seq": row.max_seq},
        dedupe_key=f"delivery_gap:{row.store_id}:{first}",
    )


def _resolve_gaps(session: Session, store: str, now: datetime) -> None:
    session.execute(
        update(Alert)
        .where(Alert.kind == "delivery_gap", Alert.store_id == store, Alert.resolved_at.is_(None))
        .values(resolved_at=now)
    )
