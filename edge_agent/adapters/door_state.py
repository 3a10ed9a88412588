"""What the door must remember across restarts: the operator's lockdown and mode override.

A small JSON file in the data directory, written atomically (temporary file, fsync, rename) each
time either changes, and read at start-up before the first code is accepted. A file that cannot
be read is reported and taken as *lockdown on*: an agent that cannot tell whether the store was
locked down keeps it locked down until an operator says otherwise.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from contracts.messages import Mode
from edge_agent.adapters.private import write_private

log = logging.getLogger(__name__)

FILE_NAME = "door-state.json"


@dataclass(frozen=True)
class DoorMemory:
    """The operator's decisions that outlive the process."""

    lockdown: bool = False
    mode_override: Mode | None = None


def load_door_state(path: Path) -> DoorMemory:
    """Return the saved lockdown and mode override (none saved: neither)."""
    try:
        raw = json.loads(path.read_text())
        override = raw.get("mode_override")
        return DoorMemory(bool(raw["lockdown"]), Mode(override) if override is not None else None)
    except FileNotFoundError:
        return DoorMemory()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        log.error("cannot read %s (%s): starting in lockdown until an operator lifts it", path, err)
        return DoorMemory(lockdown=True)


def save_door_state(path: Path, lockdown: bool, mode_override: str | None) -> None:
    """Save the lockdown flag and the mode override atomically (and durably)."""
    write_private(path, json.dumps({"lockdown": lockdown, "mode_override": mode_override}).encode())
