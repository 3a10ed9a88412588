"""Simulated CAS indicator streaming frames (device role) over the shared ``ScaleModel``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from devices.cas.protocol import (
    CasCodec,
    CasCommand,
    CasFrame,
    FrameFormat,
    Garbage,
    Role,
    lamp_byte,
)
from devices.scales.model import ScaleFaults, ScaleModel


class CasSimulator(ScaleFaults):
    """A CAS indicator in continuous mode; also answers ``WT``/``ZE``/``TR``/``KT``."""

    name = "cas"

    def __init__(
        self,
        model: ScaleModel | None = None,
        *,
        frame_format: FrameFormat = "cas22",
        rate_hz: float = 10.0,
        unit: str = "kg",
        decimals: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an indicator streaming ``rate_hz`` frames per second."""
        self.model = model or ScaleModel(capacity_g=15000.0, division_g=5.0, clock=clock)
        self.codec = CasCodec(Role.DEVICE)
        self.frame_format = frame_format
        self.rate_hz = rate_hz
        self.unit = unit
        self.decimals = decimals
        self.clock = clock
        self.streaming = True
        self.commands: list[str] = []
        self.garbage = 0
        self.frames_sent = 0
        self._next = 0.0
        self._lock = threading.Lock()

    def frame(self) -> CasFrame:
        """Return the frame describing the scale now."""
        snap = self.model.snapshot()
        scale = {"kg": 1000.0, "g": 1.0, "lb": 453.59237}[self.unit]
        status: Literal["ST", "US", "OL"] = "OL" if snap.overload else ("ST" if snap.stable else "US")
        mode: Literal["GS", "NT"] = "NT" if snap.net_mode else "GS"
        value = None if snap.overload else round(snap.net_g / scale, self.decimals)
        lamp = lamp_byte(stable=snap.stable, gross=not snap.net_mode, tare=snap.net_mode, zero=snap.center_of_zero)
        return CasFrame(status, mode, value, self.unit, self.decimals, lamp, "1", self.frame_format)

    def receive_data(self, data: bytes) -> bytes:
        """Run command-mode requests."""
        out = bytearray()
        with self._lock:
            for event in self.codec.receive_data(data):
                if isinstance(event, Garbage):
                    self.garbage += 1
                    continue
                if not isinstance(event, CasCommand):
                    continue
                self.commands.append(event.name)
                if event.name == "ZE":
                    self.model.zero()
                elif event.name in ("TR", "KT"):
                    snap = self.model.snapshot()
                    empty = abs(snap.gross_g) <= self.model.zero_range_g
                    if snap.net_mode and empty:
                        self.model.clear_tare()  # TARE on an empty platter clears the tare
                    else:
                        self.model.tare()
                out += self.codec.send(self.frame())
                self.frames_sent += 1
        return bytes(out)

    def poll(self, now: float) -> bytes:
        """Stream one frame every ``1 / rate_hz`` seconds."""
        with self._lock:
            if not self.streaming or now < self._next:
                return b""
            self._next = now + 1 / self.rate_hz
            self.frames_sent += 1
            return self.codec.send(self.frame())
