"""Simulated Toledo 8217 / ECR scale (device role) over the shared ``ScaleModel``.

Answers ``W`` with a weight frame or a ``?`` status, ``Z``/``T``/``C`` with a status after
``command_delay_s`` (≈150 ms on real scales), and implements echo mode for the ``Ehello`` probe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from devices.scales.model import ScaleFaults, ScaleModel
from devices.toledo8217.protocol import (
    CENTER_OF_ZERO,
    MOTION,
    NET_MODE,
    OUTSIDE_ZERO_RANGE,
    OVER_CAPACITY,
    UNDER_ZERO,
    DigitalTare,
    Echo,
    EchoMode,
    Garbage,
    Role,
    ScaleCommand,
    StatusFrame,
    Toledo8217Codec,
    Toledo8217Event,
    WeightFrame,
)

_IDLE_S = 0.02


class Toledo8217Simulator(ScaleFaults):
    """A Toledo 8217-protocol scale with a 7E1 line (sent as 7-bit bytes)."""

    name = "toledo8217"

    def __init__(
        self,
        model: ScaleModel | None = None,
        *,
        unit: Literal["kg", "lb"] = "kg",
        command_delay_s: float = 0.15,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create a scale (15 kg × 5 g by default)."""
        self.model = model or ScaleModel(capacity_g=15000.0, division_g=5.0, clock=clock)
        self.codec = Toledo8217Codec(Role.DEVICE)
        self.unit = unit
        self.command_delay_s = command_delay_s
        self.clock = clock
        self.commands: list[str] = []
        self.garbage = 0
        self._delayed: list[tuple[float, bytes]] = []
        self._last_rx = 0.0
        self._lock = threading.Lock()

    def _flags(self) -> int:
        snap = self.model.snapshot()
        flags = 0
        if not snap.stable:
            flags |= MOTION
        if snap.overload:
            flags |= OVER_CAPACITY
        if snap.underload or snap.net_g < 0:
            flags |= UNDER_ZERO
        if snap.center_of_zero:
            flags |= CENTER_OF_ZERO
        if snap.net_mode:
            flags |= NET_MODE
        return flags

    def _weigh(self) -> bytes:
        flags = self._flags()
        if flags & (MOTION | OVER_CAPACITY | UNDER_ZERO):
            return self.codec.send(StatusFrame(flags))
        snap = self.model.snapshot()
        value = snap.net_g / 1000 if self.unit == "kg" else snap.net_g / 453.59237
        return self.codec.send(WeightFrame(round(value, 3 if self.unit == "kg" else 2), self.unit, snap.net_mode))

    def _apply(self, event: Toledo8217Event) -> bytes:
        """Return the immediate reply; delayed replies go to ``_delayed``."""
        if isinstance(event, Garbage):
            self.garbage += 1
            return b""
        if isinstance(event, Echo):
            return event.data
        if isinstance(event, DigitalTare):
            self.commands.append("T#")
            self.model.preset_tare(event.kg * 1000)
            self._later(self.codec.send(StatusFrame(self._flags())))
            return b""
        if not isinstance(event, ScaleCommand):
            return b""
        self.commands.append(event.char)
        if event.char == "W":
            return self._weigh()
        if event.char == "E":
            return self.codec.send(EchoMode(True))
        if event.char == "F":
            return self.codec.send(EchoMode(False))
        extra = 0
        if event.char == "Z":
            if self.model.tare_g:
                extra = OUTSIDE_ZERO_RANGE  # zero is captured in gross mode only
            else:
                result = self.model.zero()
                extra = 0 if result in ("ok", "unstable") else OUTSIDE_ZERO_RANGE
        elif event.char == "T":
            self.model.tare()
        elif event.char == "C":
            self.model.clear_tare()
        self._later(self.codec.send(StatusFrame(self._flags() | extra)))
        return b""

    def _later(self, data: bytes) -> None:
        self._delayed.append((self.clock() + self.command_delay_s, data))

    def receive_data(self, data: bytes) -> bytes:
        """Answer commands; echo in echo mode."""
        with self._lock:
            self._last_rx = self.clock()
            return b"".join(self._apply(event) for event in self.codec.receive_data(data))

    def poll(self, now: float) -> bytes:
        """Finish a held ``T`` after a short silence and send delayed status replies."""
        out = bytearray()
        with self._lock:
            if self.clock() - self._last_rx >= _IDLE_S:
                for event in self.codec.idle():
                    out += self._apply(event)
            due = [item for item in self._delayed if item[0] <= self.clock()]
            for item in due:
                self._delayed.remove(item)
                out += item[1]
        return bytes(out)
