"""Keep the agent's data directory private: the directory 0700, every file in it 0600.

A store's disk holds member ids, sales not yet acknowledged and the codes used lately (see
docs/security.md). Nothing in it is for another local user, so files are created private from
the start (never created wide and narrowed afterwards) and start-up narrows what an older version
or a copied backup left wider. SQLite gives a database's ``-wal`` and ``-shm`` files the mode of
the database itself, so creating the database file 0600 first covers all three.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if missing; make it 0700 and narrow its files to 0600."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _narrow(path, DIR_MODE)
    for child in path.iterdir():
        if child.is_file() and not child.is_symlink():
            _narrow(child, FILE_MODE)


def _narrow(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        log.warning("narrowing %s from %04o to %04o (only the agent's user may read it)", path, current, mode)
        os.chmod(path, mode)


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it is missing (before SQLite or anyone opens it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    _narrow(path, FILE_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically and durably with ``data``, mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # a stale .tmp may have been wider
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def loose_permissions(path: Path) -> list[str]:
    """Return one line per path under ``path`` that another local user could read or write."""
    if not path.exists():
        return []
    lines = []
    for p in [path, *sorted(path.rglob("*"))]:
        if p.is_symlink() or not (p.is_dir() or p.is_file()):
            continue
        want = DIR_MODE if p.is_dir() else FILE_MODE
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode & ~want:
            lines.append(f"{p} is mode {mode:04o}, wider than {want:04o}: run chmod {want:o} {p}")
    return lines
