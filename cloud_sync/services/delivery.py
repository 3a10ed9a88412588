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
    """Advance the progress of every store in ``seqs`` (sequence numbers just committed).

    A few statements per batch, whatever the number of stores: the rows are read (and locked, in
    store order) together and written back in one statement; the events table is read only for
    a store whose batch does not simply continue its run without a gap.
    """
    stores = sorted(s for s, values in seqs.items() if values)  # one lock order for every writer
    if not stores:
        return {}
    dialect = session.get_bind().dialect.name
    session.execute(
        insert_ignore(StoreDelivery, dialect),
        [{"store_id": s, "committed_through": 0, "max_seq": 0, "updated_at": now} for s in stores],
    )
    rows = session.execute(
        select(StoreDelivery)
        .where(StoreDelivery.store_id.in_(stores))
        .order_by(StoreDelivery.store_id)
        .with_for_update()
    ).scalars()
    out: dict[str, Progress] = {}
    changes: list[dict[str, object]] = []
    for row in rows:
        store = row.store_id
        through = _continued(row.committed_through, row.max_seq, seqs[store])
        if through is None:
            through = _walk(session, store, row.committed_through)
        max_seq = max(row.max_seq, *seqs[store])
        gap_since = (row.gap_since or now) if max_seq > through else None
        if gap_since is not None and now - aware(gap_since) >= gap_alert_after:
            _raise_gap(session, store, through, max_seq, gap_since, now)
        elif gap_since is None and row.gap_since is not None:
            _resolve_gaps(session, store, now)
        changes.append(
            {
                "store_id": store,
                "committed_through": through,
                "max_seq": max_seq,
                "gap_since": gap_since,
                "updated_at": now,
            }
        )
        out[store] = Progress(store, through, max_seq, gap_since)
    session.execute(update(StoreDelivery), changes)
    return out


def _continued(through: int, max_seq: int, batch: Sequence[int]) -> int | None:
    """The new ``committed_through`` if ``batch`` just continues a gap-free run, else None (walk)."""
    if max_seq > through:
        return None  # a gap is open: only the events table can say whether it closed
    expected = through + 1
    for seq in sorted(set(batch)):
        if seq < expected:
            continue
        if seq != expected:
            return None
        expected += 1
    return expected - 1


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


def _raise_gap(session: Session, store: str, through: int, max_seq: int, since: datetime, now: datetime) -> None:
    waited = int((now - aware(since)).total_seconds())
    first = through + 1
    raise_alert(
        session,
        kind="delivery_gap",
        store_id=store,
        severity="critical",
        message=f"store {store}: event {first} (and maybe more up to {max_seq}) not received for {waited} s",
        details={"committed_through": through, "max_seq": max_seq},
        dedupe_key=f"delivery_gap:{store}:{first}",
    )


def _resolve_gaps(session: Session, store: str, now: datetime) -> None:
    session.execute(
        update(Alert)
        .where(Alert.kind == "delivery_gap", Alert.store_id == store, Alert.resolved_at.is_(None))
        .values(resolved_at=now)
    )
