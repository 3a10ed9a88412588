"""One agent per data directory: an exclusive ``flock`` on ``<data_dir>/agent.lock``, held for life.

The lock file also says who holds it (PID, data directory, the serial ports of its config), so
a second agent can name the first, and ``devices probe`` can skip a port a running agent owns.
``flock`` locks are released by the kernel when the process dies, even by ``kill -9``: a stale
file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "agent.lock"


class DataDirBusy(RuntimeError):
    """Another agent holds the data directory."""

    def __init__(self, data_dir: Path, holder: dict[str, object]) -> None:
        """Say which process holds ``data_dir``."""
        self.data_dir = data_dir
        self.holder = holder
        pid = holder.get("pid", "unknown")
        super().__init__(f"another agent (pid {pid}) is running on data directory {data_dir}")


def read_holder(path: Path) -> dict[str, object]:
    """Return what the lock file says about its holder (empty if unreadable)."""
    try:
        raw = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


@dataclass
class AgentLock:
    """The held lock; ``release`` (or the end of the process) lets the next agent in."""

    path: Path
    fd: int

    def release(self) -> None:
        """Unlock and close the lock file (the file stays)."""
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


def acquire(data_dir: Path, ports: list[str]) -> AgentLock:
    """Take the data directory for this process and record its PID and ports.

    Raises:
        DataDirBusy: another live process holds it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FILE_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # never O_TRUNC: the holder's record stays readable
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirBusy(data_dir, read_holder(path)) from None
    record = json.dumps({"pid": os.getpid(), "data_dir": str(data_dir), "ports": ports}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    os.fsync(fd)
    return AgentLock(path, fd)


def is_held(path: Path) -> bool:
    """Return whether a live process holds the lock file at ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
