"""Simulated OSDP reader: libosdp's peripheral-device (PD) mode behind in-memory buffers.

The PD context is refreshed from ``receive_data``/``poll`` on the host's thread, so no extra
thread runs; cards and keys are submitted as libosdp events and commands from the control panel
(outputs, LED, buzzer) are recorded. A stdlib ``OsdpCodec`` decodes the packet headers seen.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import osdp  # type: ignore[import-untyped, unused-ignore]

from devices.osdp.protocol import OsdpCodec, Packet, Role


class _BufferChannel(osdp.Channel):  # type: ignore[misc, unused-ignore]
    """A libosdp channel over two byte buffers."""

    def __init__(self, rx: bytearray, tx: bytearray) -> None:
        super().__init__()
        self.rx = rx
        self.tx = tx

    def read(self, max_bytes: int) -> bytes:
        data = bytes(self.rx[:max_bytes])
        del self.rx[:max_bytes]
        return data

    def write(self, buf: bytes) -> int:
        self.tx.extend(buf)
        return len(buf)

    def flush(self) -> None:
        """Nothing is buffered outside the two byte buffers."""


def _capabilities() -> Any:
    cap = osdp.Capability
    return osdp.PDCapabilities(
        [
            (cap.OutputControl, 1, 2),
            (cap.ContactStatusMonitoring, 1, 2),
            (cap.CardDataFormat, 1, 1),
            (cap.LEDControl, 1, 1),
            (cap.AudibleControl, 1, 1),
            (cap.TextOutput, 1, 1),
            (cap.CommunicationSecurity, 1, 1),
        ]
    )


class OsdpSimulator:
    """An OSDP reader at ``address``; ``card``/``keys`` make it report, ``outputs`` shows commands."""

    name = "osdp"

    def __init__(self, address: int = 1, scbk: bytes | None = None, *, refresh_s: float = 0.005) -> None:
        """Create the PD; with ``scbk`` it enforces the secure channel."""
        self.address = address
        self._rx = bytearray()
        self._tx = bytearray()
        self.codec = OsdpCodec(Role.DEVICE)
        flags = [osdp.LibFlag.EnforceSecure] if scbk else []
        info = osdp.PDInfo(
            address, _BufferChannel(self._rx, self._tx), scbk=scbk, flags=flags, name=f"sim-pd-{address}"
        )
        self.pd = osdp.PeripheralDevice(info, _capabilities(), log_level=osdp.LogLevel.Emergency)
        self.pd.lock = threading.Lock()  # the wrapper's lock; we refresh from the host thread
        self.refresh_s = refresh_s
        self.packets: list[Packet] = []
        self.commands: list[dict[str, Any]] = []
        self.outputs: dict[int, bool] = {}
        self.garbage = 0
        self.changed = threading.Condition()
        self._last_refresh = 0.0

    @property
    def sc_active(self) -> bool:
        """Return whether the secure channel is up."""
        with self.pd.lock:
            return bool(self.pd.ctx.is_sc_active())

    def card(self, facility: int, card: int, bits: int = 26) -> None:
        """Present a Wiegand card (parity computed) to the reader."""
        from devices.wiegand.protocol import encode_frame

        frame = encode_frame(bits, facility, card)
        nbytes = (bits + 7) // 8
        data = (frame << (nbytes * 8 - bits)).to_bytes(nbytes, "big")
        event = {
            "event": osdp.Event.CardRead,
            "reader_no": 0,
            "direction": 0,
            "length": bits,
            "format": osdp.CardFormat.Wiegand,
            "data": data,
        }
        with self.pd.lock:
            self.pd.ctx.submit_event(event)

    def keys(self, keys: str) -> None:
        """Type keys on the reader's keypad (ASCII digits, ``*`` and ``#``)."""
        event = {"event": osdp.Event.KeyPress, "reader_no": 0, "data": keys.encode("ascii")}
        with self.pd.lock:
            self.pd.ctx.submit_event(event)

    def _refresh(self, now: float) -> bytes:
        with self.pd.lock:
            self.pd.ctx.refresh()
        self._last_refresh = now
        while True:
            command = self.pd.get_command(timeout=-1)
            if command is None:
                break
            with self.changed:
                self.commands.append(command)
                if command.get("command") == osdp.Command.Output:
                    self.outputs[int(command["output_no"])] = int(command["control_code"]) in (2, 4, 5)
                self.changed.notify_all()
        out = bytes(self._tx)
        self._tx.clear()
        return out

    def receive_data(self, data: bytes) -> bytes:
        """Feed the control panel's bytes to the PD and return its answer."""
        for event in self.codec.receive_data(data):
            if isinstance(event, Packet):
                self.packets.append(event)
            else:
                self.garbage += 1
        self._rx += data
        return self._refresh(time.monotonic())

    def poll(self, now: float) -> bytes:
        """Run the PD state machine (timers, queued events)."""
        if now - self._last_refresh < self.refresh_s:
            return b""
        return self._refresh(now)


def demo(sim: OsdpSimulator, step: int) -> None:
    """Play step ``step`` of the ``smartstore sim`` demo: a card is presented."""
    sim.card(101, 4095 + step)
