"""Batch and transaction policy of the ingest: turn a batch of MQTT messages into committed rows.

``BatchProcessor.process`` classifies every message (pure, before touching the database), then
writes in one transaction: the stores, the events (only events never seen before have effects:
entries, sales, stock, coupons, alerts), payment authorisations and dead letters, and, last, the
wallet charges of offline sales. The "newest wins" state (alarms, applied sync versions, store
mode, availability and retained state) follows in a second short transaction. Transient database
errors are retried; a batch the database refuses is split to isolate the poison message. The
caller acknowledges the messages only after ``process`` returns.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.ingest.classify import Classified, Incoming, classify
from cloud_sync.services.delivery import advance
from cloud_sync.services.events import (
    DeadLetterIn,
    apply_new_events,
    ensure_stores,
    record_dead_letters,
    record_events,
)
from cloud_sync.services.payments import authorize
from cloud_sync.services.sales import DEFAULT_LOW_STOCK, LowStock
from cloud_sync.services.store_state import apply_availability, apply_shared_events, apply_states, touch_last_seen
from cloud_sync.services.wallet import charge_offline_sales
from contracts.messages import Event, dump
from contracts.topics import Topics

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What one batch did; ``replies`` are (topic, payload) to publish after commit."""

    events: int = 0
    new_events: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    states: int = 0
    payments: int = 0
    replies: list[tuple[str, bytes]] = field(default_factory=list)
    event_ids: list[uuid.UUID] = field(default_factory=list)
    # Per store: the event ids now durably held (new, known before, or kept as dead letters),
    # and how far the store's events are committed without a gap.
    committed: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    committed_through: dict[str, int] = field(default_factory=dict)

    def add(self, other: BatchResult) -> None:
        """Add the counts, replies and event ids of ``other`` to this result."""
        self.events += other.events
        self.new_events += other.new_events
        self.duplicates += other.duplicates
        self.dead_letters += other.dead_letters
        self.states += other.states
        self.payments += other.payments
        self.replies.extend(other.replies)
        self.event_ids.extend(other.event_ids)
        for store, ids in other.committed.items():
            self.committed.setdefault(store, []).extend(ids)
        for store, through in other.committed_through.items():
            self.committed_through[store] = max(through, self.committed_through.get(store, 0))


def is_transient(err: DBAPIError) -> bool:
    """Return whether retrying later may succeed (connection lost, lock, deadlock)."""
    if err.connection_invalidated:
        return True
    if isinstance(err, OperationalError):
        return True
    code = getattr(err.orig, "sqlstate", None)
    return code in ("40001", "40P01", "55P03")


class BatchProcessor:
    """Writes batches of classified messages to the database."""

    def __init__(
        self, engine: Engine, *, low_stock_default: int = DEFAULT_LOW_STOCK, gap_alert_s: float = 300.0
    ) -> None:
        """Bind to ``engine`` (SQLite or PostgreSQL); a delivery gap open ``gap_alert_s`` raises an alert."""
        self.engine = engine
        self.gap_alert_after = timedelta(seconds=gap_alert_s)
        self.low_stock = LowStock(low_stock_default)
        self._known_stores: set[str] = set()

    # ------------------------------------------------------------------ entry points

    def process(self, messages: Sequence[Incoming], *, stop: threading.Event | None = None) -> BatchResult:
        """Write a batch durably; retries transient errors, isolates poison messages.

        Returns only once everything is committed (the caller then acknowledges). Raises only
        if ``stop`` is set while the database stays unreachable. Any other error, from the
        database or not (an ``OverflowError`` in a driver, a bug in an effect), is pinned on the
        message that causes it, which goes to the dead letters with the reason.
        """
        cls = classify(messages)
        delay = 0.05
        attempts = 0
        while True:
            try:
                return self._write(cls)
            except DBAPIError as err:
                attempts += 1
                if is_transient(err):
                    if stop is not None and stop.is_set() and attempts > 3:
                        raise
                    log.warning("transient database error (attempt %d), retrying: %s", attempts, err.orig)
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if attempts < 2:
                    # A race: the same key written by another worker meanwhile (an event, a sale's
                    # charge). The retry sees the committed row and reconciles with it.
                    continue
                log.error("batch failed, isolating messages: %s", err.orig)
                return self._isolate(messages, stop)
            except Exception as err:
                log.error("batch failed, isolating messages: %s: %s", type(err).__name__, err)
                return self._isolate(messages, stop)

    def _isolate(self, messages: Sequence[Incoming], stop: threading.Event | None) -> BatchResult:
        total = BatchResult()
        for msg in messages:
            one = classify([msg])
            try:
                res = self._write(one)
            except DBAPIError as err:
                if is_transient(err):
                    res = self.process([msg], stop=stop)
                else:
                    res = self._dead_letter(msg, f"database refused message: {str(err.orig)[:400]}", one)
            except Exception as err:
                log.exception("message on %s refused by the ingest", msg.topic[:200])
                res = self._dead_letter(msg, f"cannot write message: {type(err).__name__}: {str(err)[:400]}", one)
            total.add(res)
        return total

    def _dead_letter(self, msg: Incoming, reason: str, cls: Classified) -> BatchResult:
        """Keep ``msg`` as a dead letter; if even that is refused, keep it without its store."""
        store = next(iter(cls.store_ids()), None) if not cls.dead else cls.dead[0][2]
        try:
            return self._write(Classified(dead=[(msg, reason, store)]))
        except DBAPIError as err:
            if is_transient(err) or store is None:
                raise
            return self._write(Classified(dead=[(msg, f"{reason} (store {store[:64]!r} refused too)", None)]))

    # ---------------------------------------------------------------------- writing

    def _write(self, cls: Classified) -> BatchResult:
        result = BatchResult()
        now = utcnow()
        with Session(self.engine) as session, session.begin():
            # Stores are never deleted: once seen committed, a store needs no insert. Skipping it
            # keeps concurrent writers from queueing on the same store rows in every batch.
            stores = cls.store_ids() - self._known_stores
            ensure_stores(session, stores, now)
            recorded = record_events(session, [(ev, msg.payload) for msg, ev in cls.events], now)
            result.events = recorded.received
            result.new_events = len(recorded.new)
            result.duplicates = recorded.duplicates
            result.event_ids = recorded.event_ids
            offline_sales = apply_new_events(session, recorded.new, self.low_stock)
            for req, _msg in cls.payments:
                reply = authorize(session, req, now)
                result.replies.append((Topics(req.store_id).pay_reply, dump(reply)))
                result.payments += 1
            record_dead_letters(session, [DeadLetterIn(m.topic, m.payload, r, s) for m, r, s in cls.dead], now)
            result.dead_letters = len(cls.dead)
            # Wallets are shared with other transactions: charged last, in sorted order, so their
            # row locks are held only for the commit and concurrent writers never deadlock.
            charge_offline_sales(session, offline_sales)
        self._known_stores |= stores
        # "Newest wins" state (alarms, applied sync versions, store mode, availability, retained
        # state) is idempotent for any copy of an event, so it gets its own short transaction
        # after the main commit and before the acknowledgement: hot rows (one alarm per store) are
        # locked for milliseconds, and a crash in between only means it is applied again on
        # redelivery.
        unique = list({id(ev): ev for _, ev in cls.events}.values())
        if unique or cls.availability or cls.states:
            with Session(self.engine) as session, session.begin():
                apply_shared_events(session, unique)
                apply_availability(session, [(s, online) for s, online, _ in cls.availability], now)
                apply_states(session, [(s, name, value) for s, name, value, _ in cls.states], now)
                touch_last_seen(session, _live_stores(cls), now)
                progress = advance(session, _seqs_by_store(unique), now, gap_alert_after=self.gap_alert_after)
            result.committed_through = {s: p.committed_through for s, p in progress.items()}
        result.states = len(cls.availability) + len(cls.states)
        result.committed = _committed_by_store(cls)
        return result


def _live_stores(cls: Classified) -> list[str]:
    """The stores that spoke in this batch: an ``online`` availability or a state, not replayed as retained."""
    online = [s for s, is_online, msg in cls.availability if is_online and not msg.retain]
    return online + [s for s, _name, _value, msg in cls.states if not msg.retain]


def _seqs_by_store(events: Sequence[Event]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for ev in events:
        if ev.seq > 0:
            out.setdefault(ev.store_id, []).append(ev.seq)
    return out


def _committed_by_store(cls: Classified) -> dict[str, list[uuid.UUID]]:
    """The event ids of each store this batch holds durably: its events, and its dead letters that name one."""
    out: dict[str, dict[uuid.UUID, None]] = {}
    for _msg, ev in cls.events:
        out.setdefault(ev.store_id, {})[ev.event_id] = None
    for msg, _reason, store in cls.dead:
        event_id = _event_id_of(msg.payload)
        if store is not None and event_id is not None:
            out.setdefault(store, {})[event_id] = None
    return {store: list(ids) for store, ids in out.items()}


def _event_id_of(payload: bytes) -> uuid.UUID | None:
    """Best-effort ``event_id`` of a payload the contract refused (so the store stops resending it)."""
    try:
        value = json.loads(payload).get("event_id")
        return uuid.UUID(value) if isinstance(value, str) else None
    except Exception:  # anything a refused payload may raise (nesting too deep, not an object)
        return None
