"""What a device selftest reports, and the small helpers every package's ``selftest.py`` uses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Check:
    """One named check and its outcome."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class DeviceReport:
    """The selftest result of one device kind."""

    device: str
    protocol: str
    ok: bool = True
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record a check; the device fails if any check fails."""
        self.checks.append(Check(name, bool(ok), detail))
        self.ok = self.ok and bool(ok)
        return bool(ok)

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain JSON data."""
        return asdict(self)


SelfTest = Callable[[DeviceReport, str, Any], None]
"""A device's selftest: ``(report, url of the simulator's pty, the simulator)``."""


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` every 10 ms until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Recorder:
    """A callback that records what it is called with (one argument, or the argument tuple)."""

    def __init__(self) -> None:
        """Start with nothing recorded."""
        self.items: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, *args: Any) -> None:
        """Record one call."""
        with self.lock:
            self.items.append(args[0] if len(args) == 1 else args)

    def find(self, predicate: Callable[[Any], bool]) -> Any:
        """Return the latest recorded item matching ``predicate``, or None."""
        with self.lock:
            return next((i for i in reversed(self.items) if predicate(i)), None)

    def clear(self) -> None:
        """Forget everything recorded."""
        with self.lock:
            self.items.clear()
