"""Once-per-id for operator commands: the correlation ids a store has taken, in SQLite.

``claim`` inserts a correlation id durably *before* the command runs, so a command redelivered
or replayed after a crash or a restart is never executed twice (a crash between the claim and
the action loses the action, the safe direction for a door). Rows are kept until their
``keep_until`` (the command's lifetime and then some, ``edge_agent.domain.commands.keep_until``)
and pruned as new ones arrive. WAL journal, ``synchronous=FULL``; one connection shared under a
lock (the decision thread writes, the bootstrap opens it).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from edge_agent.adapters.private import private_file

PRUNE_EVERY = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    correlation_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    keep_until REAL NOT NULL,
    reply BLOB
)
"""


class CommandLog:
    """The persistent once-per-id record of commands (``edge_agent.domain.ports.CommandJournal``)."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the log at ``path`` and drop what has outlived its lifetime."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(private_file(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        self._claims = 0
        self.prune()

    def claim(self, correlation_id: str, name: str, keep_until: float) -> bool:
        """Record ``correlation_id`` until ``keep_until``; return False if it was already recorded."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO commands (correlation_id, name, keep_until) VALUES (?, ?, ?)",
                (correlation_id, name, keep_until),
            )
            self._claims += 1
            fresh = cur.rowcount == 1
        if self._claims % PRUNE_EVERY == 0:
            self.prune()
        return fresh

    def record_reply(self, correlation_id: str, reply: bytes) -> None:
        """Keep the reply sent for ``correlation_id`` (answered again to a redelivery)."""
        with self._lock:
            self._db.execute("UPDATE commands SET reply = ? WHERE correlation_id = ?", (reply, correlation_id))

    def reply_of(self, correlation_id: str) -> bytes | None:
        """Return the reply recorded for ``correlation_id``."""
        with self._lock:
            row = self._db.execute("SELECT reply FROM commands WHERE correlation_id = ?", (correlation_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def prune(self, now: float | None = None) -> int:
        """Delete ids kept past their ``keep_until``; return how many."""
        with self._lock:
            cur = self._db.execute("DELETE FROM commands WHERE keep_until < ?", (time.time() if now is None else now,))
        return cur.rowcount

    def __len__(self) -> int:
        """Return how many ids are kept."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM commands").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
