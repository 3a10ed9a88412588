"""Fault injection that works on any simulator: garbage bytes, delayed replies, dropped replies.

Device-specific faults (unstable weight, overload, stuck relay, bad Wiegand parity) live on the
simulators themselves; unplug/replug is the host's job (``PtySimulatorHost.unplug``).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from devices.pty import Simulator


@dataclass
class FaultPlan:
    """Which generic faults to inject, and how hard."""

    garbage_every_s: float | None = None
    garbage_bytes: int = 8
    delay_s: float = 0.0
    drop_ratio: float = 0.0
    seed: int = 0


class FaultySimulator:
    """Wrap ``inner`` so its replies arrive late, get lost, or have garbage bytes in between."""

    def __init__(self, inner: Simulator, plan: FaultPlan) -> None:
        """Wrap ``inner`` with the faults of ``plan``."""
        self.inner = inner
        self.plan = plan
        self.name = getattr(inner, "name", "simulator")
        self._rng = random.Random(plan.seed)
        self._delayed: list[tuple[float, bytes]] = []
        self._next_garbage: float | None = None
        self._lock = threading.Lock()
        self.garbage_sent = 0
        self.dropped = 0

    def __getattr__(self, name: str) -> object:
        """Reach the wrapped simulator's own attributes (``model``, ``lines``...)."""
        return getattr(self.inner, name)

    def _noise(self) -> bytes:
        # never a CR/LF/STX/SOM/FF-FF-FF run, so the noise cannot complete a frame by itself
        return bytes(
            self._rng.choice(b"\x00\x07\x15\x7e\x81\x9c\xaa\xbd\xe5\xf0") for _ in range(self.plan.garbage_bytes)
        )

    def _out(self, data: bytes, now: float) -> bytes:
        if not data:
            return b""
        if self.plan.drop_ratio and self._rng.random() < self.plan.drop_ratio:
            self.dropped += 1
            return b""
        if self.plan.delay_s:
            with self._lock:
                self._delayed.append((now + self.plan.delay_s, data))
            return b""
        return data

    def receive_data(self, data: bytes) -> bytes:
        """Pass ``data`` in; the reply may be dropped or held back."""
        return self._out(self.inner.receive_data(data), time.monotonic())

    def poll(self, now: float) -> bytes:
        """Send due delayed replies, the inner simulator's own output and periodic garbage."""
        out = bytearray()
        with self._lock:
            due = [item for item in self._delayed if item[0] <= now]
            for item in due:
                self._delayed.remove(item)
                out += item[1]
        out += self._out(self.inner.poll(now), now)
        every = self.plan.garbage_every_s
        if every:
            if self._next_garbage is None:
                self._next_garbage = now + every
            elif now >= self._next_garbage:
                self._next_garbage = now + every
                out += self._noise()
                self.garbage_sent += 1
        return bytes(out)
