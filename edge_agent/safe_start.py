"""``agent run``'s first steps: take the data directory, then drive the lock to its safe state.

Before anything else that can fail (the rest of the config, the issuer keys, the outbox, the
broker), the agent reads only ``data_dir`` and the ``[lock]`` table of its TOML, takes the
data directory for itself (one agent per directory: ``adapters.agent_lock``; a second agent
stops here and never touches the relay), opens the lock port and writes "locked" (both
fail-secure and fail-safe doors are wired "relay energised = unlocked", so locked is OFF), and
closes the port again: the relay keeps its state while the agent's own lock driver reopens it.
A relay left energised by a killed agent (mid-pulse) is so de-energised first at every start,
whatever fails afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from edge_agent import hardware
from edge_agent.adapters import agent_lock
from edge_agent.config import AgentSettings, LockConfig
from edge_agent.config_errors import ConfigError, explain, read_toml

log = logging.getLogger(__name__)


class StartupError(Exception):
    """A start-up step failed; the message is the one line the operator reads."""


@dataclass
class SafeStart:
    """What the early steps leave held: the data directory lock (for the life of the process)."""

    data_dir: Path
    lock_file: agent_lock.AgentLock
    locked: bool


def config_ports(raw: object) -> list[str]:
    """Return every device port URL in a raw config (``url`` anywhere in its tables)."""
    found: list[str] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key == "url" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(config_ports(value))
    elif isinstance(raw, list):
        for item in raw:
            found.extend(config_ports(item))
    return list(dict.fromkeys(found))


def write_locked(lock: Any, *, wait_s: float) -> bool:
    """Open the lock port, write "locked", close it again; return whether the port opened in time."""
    driver = hardware.driver_for(lock, name="lock")
    driver.start()
    try:
        return bool(driver.wait_online(wait_s))
    finally:
        driver.stop(timeout=2.0)


def secure_lock_first(path: Path, *, wait_s: float = 3.0) -> SafeStart:
    """Take the data directory and write "locked" using only the ``[lock]`` table of ``path``.

    Raises:
        StartupError: the file or its lock table is unreadable, or another agent holds the data directory.
    """
    try:
        raw, text = read_toml(path)
    except ConfigError as err:
        raise StartupError(f"{err} (nothing driven)") from None
    data_dir = Path(raw.get("data_dir", AgentSettings.model_fields["data_dir"].default))
    if not isinstance(raw.get("lock"), dict):
        raise StartupError(f"{path}: no [lock] table: the agent must know its lock first (nothing driven)")
    try:
        lock = TypeAdapter(LockConfig).validate_python(raw["lock"])
    except ValidationError as err:
        problems = explain(err, path, text, AgentSettings, prefix=("lock",))
        raise StartupError(f"unusable [lock] table, nothing driven: {problems}") from None
    try:
        held = agent_lock.acquire(data_dir, config_ports(raw))
    except agent_lock.DataDirBusy as err:
        raise StartupError(f"{err}; refusing to start (the lock relay was not touched)") from None
    except OSError as err:  # no agent can run here; "locked" is still the safe write (a held port is skipped)
        locked = write_locked(lock, wait_s=wait_s)
        state = "the lock was left locked" if locked else "the lock port did not open"
        raise StartupError(f"cannot use data directory {data_dir}: {err} ({state})") from None
    locked = write_locked(lock, wait_s=wait_s)
    if locked:
        log.info("lock %s written locked before start-up", lock.url)
    else:
        log.error(
            "lock %s did not open within %.0f s: could not write locked; the agent keeps trying", lock.url, wait_s
        )
    return SafeStart(data_dir, held, locked)
