"""A damaged outbox is never a reason to stay down: it is moved aside and a fresh one started.

``open_outbox`` checks the database (``PRAGMA quick_check``, on its own connection, closed before
anything is renamed) and, if SQLite cannot read it (garbage bytes, a truncated file, a WAL that
does not belong to it), renames ``outbox.db`` and its ``-wal``/``-shm`` to
``outbox.db.damaged-<UTC timestamp>`` (kept for an engineer: the rows in it were not delivered)
and opens a new, empty outbox. The caller raises the ``outbox_damaged`` alarm in the new one.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from edge_agent.adapters.outbox import Outbox

log = logging.getLogger(__name__)

_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def damage(path: Path) -> str | None:
    """Return why SQLite cannot use the database at ``path`` (None: usable or absent)."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)  # ro: never deletes a -wal
    except sqlite3.Error as err:
        return str(err)
    try:
        rows = db.execute("PRAGMA quick_check(1)").fetchall()
        if rows != [("ok",)]:
            return "; ".join(str(r[0]) for r in rows)[:200]
        db.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.Error as err:
        return str(err)
    finally:
        db.close()
    return None


def move_aside(path: Path, now: float) -> Path:
    """Rename ``path`` and its side files to ``<name>.damaged-<timestamp>``; return the new main path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target


def open_outbox(
    path: Path, *, max_rows: int, now: Callable[[], float] = time.time, factory: Callable[..., Outbox] = Outbox
) -> tuple[Outbox, tuple[Path, str] | None]:
    """Open the outbox at ``path`` (with ``factory``); a damaged one is moved aside first.

    Returns:
        The outbox, and (where the damaged one went, why) when it was replaced.
    """
    why = damage(path)
    if why is None:
        try:
            return factory(path, max_rows=max_rows), None
        except sqlite3.DatabaseError as err:
            why = str(err)
    moved = move_aside(path, now())
    log.error("outbox %s is damaged (%s): moved aside to %s; starting with a fresh outbox", path, why, moved.name)
    return factory(path, max_rows=max_rows), (moved, why)
