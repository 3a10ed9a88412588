"""Durable outbox in SQLite (WAL): an event is committed before it is published, and deleted only
once delivered: when the cloud acknowledges that it committed the event (``acknowledge``), or, for
a link configured to trust the broker, after PUBACK (``delete_many``).

Rows are published in id order. ``synchronous=FULL`` makes every append survive a power cut as
well as a ``kill -9``. The outbox is bounded: past ``max_rows`` the oldest *droppable* rows
(telemetry) go first; access, alarm and sale events are never dropped, and the overflow is
counted so the agent can raise an alarm instead of losing them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from contracts.messages import DROPPABLE_EVENT_TYPES, Event
from edge_agent.adapters.private import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    droppable INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_droppable ON outbox (droppable, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class OutboxRow:
    """One stored message."""

    id: int
    topic: str
    payload: bytes


class Outbox:
    """A thread-safe SQLite queue of events waiting for the broker's PUBACK."""

    def __init__(self, path: str | Path, *, max_rows: int = 1_000_000, synchronous: str = "FULL") -> None:
        """Open (or create) the outbox database at ``path``."""
        self.path = str(path)
        self.max_rows = max_rows
        self._lock = threading.Lock()
        if self.path != ":memory:":
            private_file(Path(self.path))  # 0600 before SQLite creates it (its -wal and -shm take this mode)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA secure_delete=ON")  # a delivered event's bytes do not stay in free pages
        self._synchronous = synchronous
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(SCHEMA)
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        self.overflowing = self._count > self.max_rows
        # The publisher reads on its own connection: in WAL mode a reader never waits for a
        # writer, so an append's fsync does not stall publishing.
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)

    def append(self, event: Event, topic: str) -> Event:
        """Store ``event`` with the next sequence number and return it as stored."""
        return self.append_many([(event, topic)])[0]

    def append_many(self, items: Sequence[tuple[Event, str]]) -> list[Event]:
        """Store (event, topic) pairs in one durable transaction (group commit); return them as stored.

        Each row id (AUTOINCREMENT, never reused) is that event's per-agent ``seq``, in order.
        """
        if not items:
            return []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._count + len(items) > self.max_rows:
                    self._make_room(len(items))
                row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
                last = int(row[0]) if row else 0
                stored = [event.model_copy(update={"seq": last + n}) for n, (event, _) in enumerate(items, 1)]
                self._db.executemany(
                    "INSERT INTO outbox (id, event_id, topic, payload, droppable, created) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            ev.seq,
                            str(ev.event_id),
                            topic,
                            ev.model_dump_json().encode(),
                            int(ev.type in DROPPABLE_EVENT_TYPES),
                            ev.ts.timestamp(),
                        )
                        for ev, (_, topic) in zip(stored, items, strict=True)
                    ],
                )
                self._bump("written", len(items))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._count += len(items)
        return stored

    def _make_room(self, incoming: int) -> None:
        excess = self._count + incoming - self.max_rows
        cur = self._db.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE droppable = 1 ORDER BY id LIMIT ?)",
            (excess,),
        )
        dropped = cur.rowcount
        self._count -= dropped
        self._bump("dropped", dropped)
        if dropped < excess:
            self._bump("overflow", 1)  # only critical rows left: keep them, count the overflow
            self.overflowing = True

    def _bump(self, name: str, by: int) -> None:
        if by:
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
                (name, by, by),
            )

    def pending(self, after_id: int = 0, limit: int = 100) -> list[OutboxRow]:
        """Return up to ``limit`` rows with id greater than ``after_id``, oldest first."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
            ).fetchall()
        return [OutboxRow(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    def rows(self, row_ids: list[int]) -> list[OutboxRow]:
        """Return the rows among ``row_ids`` still waiting, oldest first (for resending)."""
        if not row_ids:
            return []
        marks = ",".join("?" * len(row_ids))
        with self._read_lock:
            found = self._reader.execute(
                f"SELECT id, topic, payload FROM outbox WHERE id IN ({marks}) ORDER BY id",  # noqa: S608 - placeholders only
                row_ids,
            ).fetchall()
        return [OutboxRow(int(r[0]), str(r[1]), bytes(r[2])) for r in found]

    def delete_many(self, row_ids: list[int]) -> None:
        """Forget rows the broker acknowledged, in one transaction."""
        with self._forgetting():
            cur = self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in row_ids])
            self._forgot(max(cur.rowcount, 0))

    @contextmanager
    def _forgetting(self) -> Iterator[None]:
        """One transaction that only forgets rows, under the lock and without an fsync of its own.

        Losing a forget to a power cut only means the event is sent again (the cloud drops the
        duplicate), so it need not wait for the disk; the next append's commit makes it durable.
        """
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._db.execute(f"PRAGMA synchronous={self._synchronous}")

    def _forgot(self, deleted: int) -> None:
        self._count -= deleted
        self._bump("delivered", deleted)
        self.overflowing = self._count > self.max_rows

    def acknowledge(self, event_ids: list[str]) -> list[int]:
        """Forget the rows of events the cloud has committed; return their row ids (seqs).

        Unknown ids (already forgotten, or never ours) are ignored, so a repeated or late
        acknowledgement is harmless.
        """
        if not event_ids:
            return []
        deleted: list[int] = []
        with self._forgetting():
            for start in range(0, len(event_ids), 500):
                chunk = event_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"DELETE FROM outbox WHERE event_id IN ({marks}) RETURNING id",  # noqa: S608 - placeholders only
                    chunk,
                ).fetchall()
                deleted.extend(int(r[0]) for r in rows)
            self._forgot(len(deleted))
        return deleted

    def holds(self, event_ids: Sequence[str]) -> set[str]:
        """Return which of ``event_ids`` are still waiting (not yet acknowledged)."""
        held: set[str] = set()
        with self._read_lock:
            for start in range(0, len(event_ids), 500):
                chunk = list(event_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._reader.execute(
                    f"SELECT event_id FROM outbox WHERE event_id IN ({marks})",  # noqa: S608 - placeholders only
                    chunk,
                ).fetchall()
                held.update(str(r[0]) for r in rows)
        return held

    def oldest_created(self) -> float | None:
        """Return when the oldest event still waiting was written (epoch seconds), or None."""
        with self._lock:
            row = self._db.execute("SELECT MIN(created) FROM outbox").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def responsive(self, timeout_s: float = 2.0) -> bool:
        """Return whether the outbox answers a query within ``timeout_s`` (not wedged behind a hung write)."""
        if not self._lock.acquire(timeout=timeout_s):
            return False
        try:
            self._db.execute("SELECT 1").fetchone()
            return True
        except sqlite3.Error:
            return False
        finally:
            self._lock.release()

    def __len__(self) -> int:
        """Return how many rows wait for delivery."""
        with self._lock:
            return self._count

    def counters(self) -> dict[str, int]:
        """Return lifetime counters: written, delivered, dropped, overflow."""
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM counters").fetchall()
        out = {"written": 0, "delivered": 0, "dropped": 0, "overflow": 0}
        out.update({str(n): int(v) for n, v in rows})
        return out

    def close(self) -> None:
        """Close the database."""
        with self._read_lock:
            self._reader.close()
        with self._lock:
            self._db.close()
