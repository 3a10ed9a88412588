"""The store's used member codes in SQLite (WAL), so a restarted agent still refuses them.

One row per fingerprint with its wall-clock expiry (unix seconds). The door controller and every
checkout station share one :class:`~edge_agent.domain.access.ReplayCache` over this store: the
cache answers lookups from memory (loaded here at start-up), and a grant writes its row before
the door opens or the checkout session starts.

Durability: ``synchronous=NORMAL``. In WAL mode a commit then reaches the operating system
before the call returns, so it survives a ``kill -9`` or a crash of the agent (what systemd's
1-second restart makes dangerous), but not a power cut in the following moments; a power cut
also costs the Pi a boot of several times a code's life (about 50 s), and ``FULL`` would put an
fsync on every unlock (see docs/security.md for the figures). For the same reason a commit never
checkpoints the WAL into the database itself (that fsyncs): :meth:`SqliteReplayStore.prune`
wakes a thread that does it on a connection of its own, and a passive checkpoint never makes a
grant's write wait.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from edge_agent.adapters.private import private_file

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS used_codes (
    fingerprint BLOB PRIMARY KEY,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
"""


class SqliteReplayStore:
    """Used member codes, durable across restarts (satisfies ``ReplayStore``)."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        """Open (or create, mode 0600) the database at ``path``."""
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = self._open(synchronous)
        except sqlite3.DatabaseError as err:  # a damaged file must not keep the store shut
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            log.error("%s is unreadable (%s): moved to %s, used codes start empty", self.path, err, aside)
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{self.path}{suffix}").exists():
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            self._db = self._open(synchronous)
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._checkpoints, name="replay-checkpoint", daemon=True)
        self._thread.start()

    def _open(self, synchronous: str) -> sqlite3.Connection:
        private_file(self.path)
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            db.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run on the thread below
            db.execute("PRAGMA busy_timeout=1000")
            db.executescript(SCHEMA)
            db.execute("SELECT COUNT(*) FROM used_codes").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _checkpoints(self) -> None:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closing:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as err:  # busy or full disk: the WAL keeps the records meanwhile
                    log.warning("replay store checkpoint failed: %s", err)
        finally:
            db.close()

    def load(self, now: float) -> dict[bytes, float]:
        """Forget expired rows and return the others."""
        self.prune(now)
        with self._lock:
            rows = self._db.execute("SELECT fingerprint, expires_at FROM used_codes").fetchall()
        return {bytes(fp): float(exp) for fp, exp in rows}

    def record(self, fingerprint: bytes, expires_at: float) -> None:
        """Store one used code (committed when this returns; a disk error is logged, never raised).

        The door still opens when the disk fails: the in-memory cache refuses the code until a
        restart, and the error says a restart would forget it.
        """
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO used_codes (fingerprint, expires_at) VALUES (?, ?) "
                    "ON CONFLICT(fingerprint) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
                    (fingerprint, expires_at),
                )
            except sqlite3.Error as err:
                log.error("used code not persisted in %s (%s): a restart would forget it", self.path, err)

    def prune(self, now: float) -> None:
        """Delete rows expired at ``now``."""
        with self._lock:
            try:
                self._db.execute("DELETE FROM used_codes WHERE expires_at <= ?", (now,))
            except sqlite3.Error as err:
                log.error("expired used codes not pruned from %s: %s", self.path, err)
        self._wake.set()

    def __len__(self) -> int:
        """Return how many rows are kept."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM used_codes").fetchone()[0])

    def close(self) -> None:
        """Stop the checkpoint thread, fold the WAL into the database and close it."""
        self._closing = True
        self._wake.set()
        self._thread.join(5)
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as err:
                log.warning("replay store checkpoint failed: %s", err)
            self._db.close()
