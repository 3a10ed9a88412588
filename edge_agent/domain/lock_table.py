"""The door's lock and opening tables (h11 style): every lock change and every opening cause (see docs/door.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class LockState(StrEnum):
    """What the controller wants the lock to be."""

    LOCKED = "locked"
    RELEASED = "released"  # unlocked for a short time (a grant, an exit request)
    HELD = "held"  # unlocked until further notice (day mode, fail-safe)


class LockTrigger(StrEnum):
    """Everything that can move the lock."""

    GRANT = "grant"
    EXIT = "exit"
    RELOCK = "relock"
    HOLD = "hold"
    UNHOLD = "unhold"
    LOCKDOWN = "lockdown"
    SHUTDOWN = "shutdown"


_L, _R, _H = LockState.LOCKED, LockState.RELEASED, LockState.HELD

# Rule: every change of lock state lives in this table, and so does every pair that leaves the
# lock as it is (a grant while held, a relock while locked); a pair that is not here is refused.
LOCK_TRANSITIONS: dict[tuple[LockState, LockTrigger], LockState] = {
    (_L, LockTrigger.GRANT): _R,
    (_R, LockTrigger.GRANT): _R,
    (_H, LockTrigger.GRANT): _H,
    (_L, LockTrigger.EXIT): _R,
    (_R, LockTrigger.EXIT): _R,
    (_H, LockTrigger.EXIT): _H,
    (_L, LockTrigger.RELOCK): _L,
    (_R, LockTrigger.RELOCK): _L,
    (_H, LockTrigger.RELOCK): _H,
    (_L, LockTrigger.HOLD): _H,
    (_R, LockTrigger.HOLD): _H,
    (_H, LockTrigger.HOLD): _H,
    (_L, LockTrigger.UNHOLD): _L,
    (_R, LockTrigger.UNHOLD): _R,
    (_H, LockTrigger.UNHOLD): _L,
    (_L, LockTrigger.LOCKDOWN): _L,
    (_R, LockTrigger.LOCKDOWN): _L,
    (_H, LockTrigger.LOCKDOWN): _L,
    (_L, LockTrigger.SHUTDOWN): _L,
    (_R, LockTrigger.SHUTDOWN): _L,
    (_H, LockTrigger.SHUTDOWN): _L,
}
ENERGISED = {LockState.LOCKED: False, LockState.RELEASED: True, LockState.HELD: True}

OpeningCause = Literal["grant", "exit", "day_mode", "forced", "unknown"]
OpeningRequest = Literal["exit", "grant", "none"]  # who recently asked for the door to open

# Rule: why the door opened follows from the lock state and the most recent request, here only.
OPENING_CAUSES: dict[tuple[LockState, OpeningRequest], OpeningCause] = {
    (_H, "exit"): "day_mode",
    (_H, "grant"): "day_mode",
    (_H, "none"): "day_mode",
    (_R, "exit"): "exit",
    (_R, "grant"): "grant",
    (_R, "none"): "unknown",
    (_L, "exit"): "exit",
    (_L, "grant"): "forced",
    (_L, "none"): "forced",
}


def next_lock_state(state: LockState, trigger: LockTrigger) -> LockState:
    """Return the lock state ``trigger`` moves ``state`` to; an illegal pair raises ``RuntimeError``."""
    new = LOCK_TRANSITIONS.get((state, trigger))
    if new is None:
        raise RuntimeError(f"illegal lock transition {state.value} --{trigger.value}-->")
    return new
