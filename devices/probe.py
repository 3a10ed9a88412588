"""Find out which protocol each serial port speaks, without ever moving a lock.

Odoo-style ``supported()`` probing, in a safe order: first listen without writing (a CAS
indicator streams, a scanner or Wiegand converter may print a line), then send only harmless
queries, each at its protocol's line settings (the steps are data in ``devices.catalog``, the
frames are built by each package's codec): MT-SICS ``@`` (reset, no zeroing), the Toledo
8217 ``Ehello`` echo (followed by ``F`` to leave echo mode), Nextion ``sendme``, Modbus FC02
"read discrete inputs" (9600 8N1, then 19200 8E1), the LCUS ``FF`` status query and an OSDP
``POLL``. No probe byte sequence is a relay switch frame, a Modbus write or an 8217
zero/tare/clear; ``tests/devices/test_probe.py`` checks that with the device-side codecs.

Write-only devices (ESC/POS pole displays, LCUS-1 relays) cannot answer; ``mark`` writes the
port name on any unidentified port so a technician can see which display hangs on which port.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TypeVar

from devices import catalog
from devices.catalog import Details, Identify, ProbeStep
from devices.errors import DeviceDisconnected, PortBusy
from devices.escpos.protocol import mark_screen
from devices.transport import SerialSettings, open_port

__all__ = [
    "PASSIVE",
    "STEPS",
    "USB_HINTS",
    "Details",
    "Identify",
    "ProbeResult",
    "ProbeStep",
    "default_ports",
    "mark_bytes",
    "probe_port",
    "probe_ports",
]

T = TypeVar("T")

_8N1 = SerialSettings()

# What each catalog device's protocol module answers to ``identify(bytes)``, in priority order.
PASSIVE: tuple[tuple[str, str, Identify], ...] = tuple(
    (s.protocol, s.device, s.identify) for s in catalog.passive_steps()
)
STEPS: tuple[ProbeStep, ...] = catalog.query_steps()

USB_HINTS = {
    (0x1A86, 0x7523): "CH340 adapter (LCUS relays use it; an LCUS-1 never answers)",
    (0x0403, 0x6001): "FTDI FT232R adapter",
    (0x067B, 0x2303): "Prolific PL2303 adapter",
    (0x10C4, 0xEA60): "Silicon Labs CP210x adapter",
}


@dataclass
class ProbeResult:
    """What a port turned out to be."""

    port: str
    protocol: str | None = None
    device: str | None = None
    settings: str | None = None
    details: Details = field(default_factory=dict)
    usb: str | None = None
    hint: str = ""
    error: str | None = None
    skipped: str | None = None
    marked: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        """Return one line for a technician: ``ttyUSB0: Toledo 8217 scale (9600 7E1)``."""
        name = self.port.rsplit("/", 1)[-1]
        if self.skipped:
            return f"{name}: skipped: {self.skipped}"
        if self.error:
            return f"{name}: error: {self.error}"
        if self.protocol is None:
            return f"{name}: unidentified ({self.hint})"
        return f"{name}: {self.device} ({self.settings})"

    def to_json(self) -> dict[str, object]:
        """Return the result as plain JSON data."""
        return asdict(self)


def _exchange(
    port: str,
    settings: SerialSettings,
    request: bytes | None,
    listen_s: float,
    identify: Callable[[bytes], T | None],
    after: bytes,
) -> T | None:
    """Open ``port``, send ``request`` (or only listen) and identify what comes back."""
    link = open_port(port, settings, timeout=0.02)
    try:
        link.reset_input_buffer()
        if request:
            link.write(request)
            link.flush()
        data = bytearray()
        deadline = time.monotonic() + listen_s
        found: T | None = None
        while time.monotonic() < deadline:
            chunk = link.read(256)
            if chunk:
                data += chunk
                found = identify(bytes(data))
                if found is not None and request is not None:
                    time.sleep(0.02)  # let the rest of the answer arrive (keeps the line clean)
                    link.read(link.in_waiting or 1)
                    break
        if found is None:
            found = identify(bytes(data))
        if after:
            link.write(after)
            link.flush()
            time.sleep(0.05)
            link.reset_input_buffer()
        return found
    finally:
        link.close()


def _passive(data: bytes) -> tuple[str, str, Details] | None:
    for protocol, device, identify in PASSIVE:
        found = identify(data)
        if found is not None:
            return protocol, device, found
    return None


def probe_port(
    port: str,
    *,
    listen_s: float = 0.6,
    mark: bool = False,
    usb: str | None = None,
    usb_ids: tuple[int, int] | None = None,
) -> ProbeResult:
    """Identify the protocol spoken on ``port`` (passive listen first, then harmless queries)."""
    started = time.monotonic()
    result = ProbeResult(port, usb=usb)
    try:
        passive = _exchange(port, _8N1, None, listen_s, _passive, b"")
        if passive is not None:
            result.protocol, result.device, result.details = passive
            result.settings = _8N1.describe()
            return result
        for step in STEPS:
            found = _exchange(port, step.settings, step.request, step.listen_s, step.identify, step.after)
            if found is not None:
                result.protocol, result.device, result.details = step.protocol, step.device, found
                result.settings = step.settings.describe()
                return result
        result.hint = (
            "no answer to any harmless query: a write-only device (ESC/POS pole display, LCUS-1 relay), "
            "an idle scanner (scan a code while probing) or another baud rate"
        )
        if usb_ids in USB_HINTS:
            result.hint += f"; {USB_HINTS[usb_ids]}"
        if mark:
            _mark(port, result)
    except PortBusy:
        result.skipped = "held by a running agent (or another program); not probed"
    except DeviceDisconnected as err:
        result.error = str(err)
    finally:
        result.seconds = round(time.monotonic() - started, 3)
    return result


def mark_bytes(port: str) -> bytes:
    """Return the ESC/POS bytes that show ``port``'s name (lower case: never an 8217 Z/T/C)."""
    return mark_screen("smartstore probe", port.rsplit("/", 1)[-1].lower()[:20])


def _mark(port: str, result: ProbeResult) -> None:
    """Write the port name on an unidentified port (seen if it is a pole display); never a lock."""
    data = mark_bytes(port)
    link = open_port(port, _8N1)
    try:
        link.write(data)
        link.flush()
        result.marked = True
    finally:
        link.close()


def default_ports() -> list[tuple[str, str | None, tuple[int, int] | None]]:
    """Return the system's serial ports as (device, usb spec, (vid, pid))."""
    from devices.discovery import describe, serial_ports

    ports = []
    for info in serial_ports():
        ids = (info.vid, info.pid) if info.vid is not None and info.pid is not None else None
        ports.append((info.device, describe(info) if ids else None, ids))
    return ports


def probe_ports(ports: Sequence[str] | None = None, *, listen_s: float = 0.6, mark: bool = False) -> list[ProbeResult]:
    """Probe ``ports`` (default: every serial port of the system) in parallel."""
    targets = [(p, None, None) for p in ports] if ports else default_ports()
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        futures = [
            pool.submit(probe_port, port, listen_s=listen_s, mark=mark, usb=usb, usb_ids=ids)
            for port, usb, ids in targets
        ]
        return [f.result() for f in futures]
