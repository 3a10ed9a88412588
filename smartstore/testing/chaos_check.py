"""What the chaos set test measures: the agent's outbox during the run, the cloud database at the end.

The outbox row id is the event's ``seq``; ``counters.written`` is how many events the agent wrote.
An event is lost when its seq (1..written) has no row in ``events`` for the store. An effect is
duplicated when it has more rows than the distinct events (or sales) it comes from.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from smartstore.testing.chaos_traffic import STORE


class OutboxWatch(threading.Thread):
    """Samples the agent's outbox: the age of its oldest row still to deliver, over the run."""

    def __init__(self, path: Path) -> None:
        """Prepare (not start) the sampler."""
        super().__init__(name="chaos-outbox", daemon=True)
        self.path = path
        self.max_age_s = 0.0
        self.stop_event = threading.Event()

    def read(self) -> tuple[int, int, float | None]:
        """Return (written, rows still to deliver, created time of the oldest such row)."""
        if not self.path.exists():
            return 0, 0, None
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            # A row stays until the cloud acknowledges its event, so every row is still to deliver.
            pending, oldest = db.execute("SELECT COUNT(*), MIN(created) FROM outbox").fetchone()
        finally:
            db.close()
        return int(counters.get("written", 0)), int(pending), oldest

    def sample(self) -> tuple[int, int]:
        """Read the outbox once, note the oldest row's age, return (written, pending); (-1, -1) if unreadable."""
        try:
            written, pending, oldest = self.read()
        except sqlite3.Error:
            return -1, -1
        if oldest is not None:
            self.max_age_s = max(self.max_age_s, time.time() - float(oldest))
        return written, pending

    def run(self) -> None:
        """Sample every half second until stopped."""
        while not self.stop_event.wait(0.5):
            self.sample()

    def stop(self) -> None:
        """Stop sampling."""
        self.stop_event.set()
        self.join(timeout=5)


def committed_seqs(url: str) -> set[int]:
    """Return the sequence numbers of the chaos store's events in the cloud database."""
    from sqlalchemy import select

    from cloud_sync.db.models import Event
    from cloud_sync.db.session import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {int(s) for s in conn.scalars(select(Event.seq).where(Event.store_id == STORE))}
    finally:
        engine.dispose()


def effects(url: str) -> tuple[dict[str, int], dict[str, Any]]:
    """Return (duplicated effects, row totals) of the chaos store.

    - entries: rows beyond one per door event (distinct ``event_id``, and the access events stored);
    - sales: rows beyond one per ``sale_completed`` event and per ``sale_id``;
    - wallet charges: charges beyond one per sale (an online charge is tied to its sale through its
      payment request, an offline charge names the sale);
    - stock movements: sale movements beyond one per sale line.
    """
    from sqlalchemy import func, select

    from cloud_sync.db.models import DeadLetter, Entry, Event, Payment, Sale, StockMovement, WalletEntry
    from cloud_sync.db.session import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            types = dict(
                conn.execute(select(Event.type, func.count()).where(Event.store_id == STORE).group_by(Event.type)).all()
            )
            entries = [str(e) for e in conn.scalars(select(Entry.event_id).where(Entry.store_id == STORE))]
            sales = conn.execute(select(Sale.sale_id, Sale.event_id, Sale.lines).where(Sale.store_id == STORE)).all()
            charges = conn.execute(
                select(WalletEntry.kind, WalletEntry.reference).where(
                    WalletEntry.store_id == STORE, WalletEntry.kind.in_(("charge", "offline_charge"))
                )
            ).all()
            sale_of_request = {
                str(r): str(s) for r, s in conn.execute(select(Payment.request_id, Payment.sale_id)).all()
            }
            moves = list(
                conn.scalars(
                    select(StockMovement.reference).where(
                        StockMovement.store_id == STORE, StockMovement.reason == "sale"
                    )
                )
            )
            dead = int(conn.scalar(select(func.count()).select_from(DeadLetter)) or 0)
    finally:
        engine.dispose()
    access = int(types.get("access_granted", 0)) + int(types.get("access_denied", 0))
    charged_sales = [sale_of_request.get(ref, ref) if kind == "charge" else ref for kind, ref in charges]
    lines = sum(len(row.lines or []) for row in sales)
    dup = {
        "entries": max(0, len(entries) - len(set(entries)), len(entries) - access),
        "sales": max(
            0,
            len(sales) - len({str(r.sale_id) for r in sales}),
            len(sales) - len({str(r.event_id) for r in sales}),
            len(sales) - int(types.get("sale_completed", 0)),
        ),
        "wallet_charges": max(0, len(charged_sales) - len(set(charged_sales))),
        "stock_movements": max(0, len(moves) - len(set(moves)), len(moves) - lines),
    }
    totals = {
        "events": sum(int(v) for v in types.values()),
        "events_by_type": dict(sorted((str(k), int(v)) for k, v in types.items())),
        "entries": len(entries),
        "sales": len(sales),
        "wallet_charges": len(charges),
        # charged online, but the sale never reached the database (its event lost, or the basket dropped)
        "wallet_charges_without_sale": len(set(charged_sales) - {str(r.sale_id) for r in sales}),
        "stock_movements": len(moves),
        "dead_letters": dead,
    }
    return dup, totals
