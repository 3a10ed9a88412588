"""Interfaces the domain needs from the outside world (satisfied structurally by adapters)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time for validity checks, monotonic time for timers."""

    def time(self) -> float:
        """Return unix seconds."""
        ...

    def monotonic(self) -> float:
        """Return seconds on a clock that never jumps."""
        ...


class SystemClock:
    """The real clocks."""

    def time(self) -> float:
        """Return unix seconds."""
        return time.time()

    def monotonic(self) -> float:
        """Return monotonic seconds."""
        return time.monotonic()


class LockOutput(Protocol):
    """A relay that unlocks the door while energised."""

    def set_energised(self, on: bool) -> None:
        """Energise (unlock) or de-energise (lock)."""
        ...
