"""Find out which protocol each serial port speaks, without ever moving a lock.

Odoo-style ``supported()`` probing, in a safe order: first listen without writing (a CAS
indicator streams, a scanner or Wiegand converter may print a line), then send only harmless
queries, each at its protocol's line settings: MT-SICS ``@`` (reset, no zeroing), the Toledo
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

from devices.cas.protocol import CasCodec, CasFrame
from devices.cas.protocol import Role as CasRole
from devices.errors import DeviceDisconnected
from devices.lcus.protocol import LcusCodec, RelayStatus
from devices.lcus.protocol import Role as LcusRole
from devices.modbus.protocol import (
    READ_DISCRETE_INPUTS,
    BitsReply,
    ExceptionReply,
    ModbusCodec,
    ReadBits,
)
from devices.modbus.protocol import Role as ModbusRole
from devices.mtsics.protocol import (
    MtSicsCodec,
    SicsError,
    StatusReply,
    TextReply,
    WeightReply,
)
from devices.mtsics.protocol import Role as SicsRole
from devices.nextion.protocol import CurrentPage, NextionCodec, ReturnCode, Startup
from devices.nextion.protocol import Role as NextionRole
from devices.osdp.protocol import OsdpCodec, Packet
from devices.osdp.protocol import Role as OsdpRole
from devices.osdp.protocol import poll as osdp_poll
from devices.scanner.protocol import CodeScanned, ScannerCodec
from devices.scanner.protocol import Role as ScannerRole
from devices.toledo8217.protocol import PROBE_REPLY, PROBE_REQUEST
from devices.transport import SerialSettings, open_port
from devices.wiegand.protocol import CardRead, KeyPressed, WiegandCodec
from devices.wiegand.protocol import Role as WiegandRole

Details = dict[str, str]
Identify = Callable[[bytes], Details | None]
T = TypeVar("T")

_8N1 = SerialSettings()
_7E1 = SerialSettings(baudrate=9600, bytesize=7, parity="E", stopbits=1)
_8E1_19200 = SerialSettings(baudrate=19200, bytesize=8, parity="E", stopbits=1)


# ---------------------------------------------------------------- supported(): bytes -> details
def supported_cas(data: bytes) -> Details | None:
    """Return details if ``data`` holds CAS continuous frames."""
    frames = [e for e in CasCodec(CasRole.HOST).receive_data(data) if isinstance(e, CasFrame) and e.format != "data10"]
    if not frames:
        return None
    last = frames[-1]
    return {"format": last.format, "frames": str(len(frames)), "weight": f"{last.value} {last.unit}"}


def supported_wiegand(data: bytes) -> Details | None:
    """Return details if ``data`` holds Wiegand converter lines with good parity."""
    events = WiegandCodec(WiegandRole.HOST).receive_data(data)
    good = [e for e in events if isinstance(e, (CardRead, KeyPressed))]
    if not good:
        return None
    return {"format": "hex-frame", "last": str(good[-1])}


def supported_scanner(data: bytes) -> Details | None:
    """Return details if ``data`` holds printable scan lines."""
    scans = [e for e in ScannerCodec(ScannerRole.HOST).receive_data(data) if isinstance(e, CodeScanned)]
    return {"last_code": scans[-1].text} if scans else None


def supported_mtsics(data: bytes) -> Details | None:
    """Return details if ``data`` holds MT-SICS replies (to ``@``)."""
    replies = [
        e
        for e in MtSicsCodec(SicsRole.HOST).receive_data(data)
        if isinstance(e, (TextReply, WeightReply, StatusReply, SicsError))
    ]
    if not replies:
        return None
    serial = next((e.text for e in replies if isinstance(e, TextReply) and e.command == "I4"), "")
    return {"serial_number": serial}


def supported_mtsics_greeting(data: bytes) -> Details | None:
    """Return details if ``data`` holds the ``I4 A "<serial>"`` line a balance sends at power-on."""
    for event in MtSicsCodec(SicsRole.HOST).receive_data(data):
        if isinstance(event, TextReply) and event.command == "I4":
            return {"serial_number": event.text}
    return None


def supported_toledo8217(data: bytes) -> Details | None:
    """Return details if ``data`` is the 8217 echo of ``Ehello`` (parity bit masked)."""
    masked = bytes(b & 0x7F for b in data)
    return {"echo": "ok"} if PROBE_REPLY in masked else None


def supported_nextion(data: bytes) -> Details | None:
    """Return details if ``data`` holds Nextion frames (the ``sendme`` answer)."""
    events = NextionCodec(NextionRole.HOST).receive_data(data)
    page = next((e.page for e in events if isinstance(e, CurrentPage)), None)
    if page is not None:
        return {"page": str(page)}
    if any(isinstance(e, (ReturnCode, Startup)) for e in events):
        return {"page": "unknown"}
    return None


def supported_modbus(data: bytes) -> Details | None:
    """Return details if ``data`` holds a Modbus reply from unit 1."""
    codec = ModbusCodec(ModbusRole.HOST)
    codec.send(ReadBits(1, READ_DISCRETE_INPUTS, 0, 8))
    for event in codec.receive_data(data):
        if isinstance(event, BitsReply) and event.unit == 1:
            return {"unit": "1", "inputs": "".join("1" if b else "0" for b in event.bits)}
        if isinstance(event, ExceptionReply) and event.unit == 1:
            return {"unit": "1", "exception": str(event.code)}
    return None


def supported_lcus(data: bytes) -> Details | None:
    """Return details if ``data`` holds LCUS status lines."""
    states = {e.channel: e.on for e in LcusCodec(LcusRole.HOST).receive_data(data) if isinstance(e, RelayStatus)}
    if not states:
        return None
    return {
        "channels": str(len(states)),
        "states": ",".join(f"{ch}:{'on' if on else 'off'}" for ch, on in sorted(states.items())),
    }


def supported_osdp(data: bytes) -> Details | None:
    """Return details if ``data`` holds an OSDP reply to ``POLL``."""
    for event in OsdpCodec(OsdpRole.HOST).receive_data(data):
        if isinstance(event, Packet):
            return {"reply_address": str(event.address), "reply": event.name}
    return None


@dataclass(frozen=True)
class ProbeStep:
    """One probing step: listen (``request`` None) or send a harmless query, then identify."""

    protocol: str
    device: str
    settings: SerialSettings
    request: bytes | None
    listen_s: float
    identify: Identify
    after: bytes = b""


PASSIVE: tuple[tuple[str, str, Identify], ...] = (
    ("cas", "CAS scale (continuous output)", supported_cas),
    ("wiegand", "Wiegand converter (reader/keypad)", supported_wiegand),
    ("mt-sics", "Mettler Toledo MT-SICS scale", supported_mtsics_greeting),
    ("scanner", "serial code scanner", supported_scanner),
)

STEPS: tuple[ProbeStep, ...] = (
    ProbeStep("mt-sics", "Mettler Toledo MT-SICS scale", _8N1, b"@\r\n", 0.3, supported_mtsics),
    ProbeStep("toledo-8217", "Toledo 8217 scale", _7E1, PROBE_REQUEST, 0.3, supported_toledo8217, after=b"F"),
    ProbeStep("nextion", "Nextion display", _8N1, b"\xff\xff\xffsendme\xff\xff\xff", 0.3, supported_nextion),
    ProbeStep("modbus", "Modbus RTU IO module", _8N1, bytes.fromhex("01 02 00 00 00 08 79 CC"), 0.25, supported_modbus),
    ProbeStep(
        "modbus", "Modbus RTU IO module", _8E1_19200, bytes.fromhex("01 02 00 00 00 08 79 CC"), 0.25, supported_modbus
    ),
    ProbeStep("lcus", "LCUS USB relay board", _8N1, b"\xff", 0.3, supported_lcus),
    ProbeStep("osdp", "OSDP reader", _8N1, osdp_poll(), 0.25, supported_osdp),
    ProbeStep("osdp", "OSDP reader", SerialSettings(baudrate=115200), osdp_poll(), 0.25, supported_osdp),
)

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
    marked: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        """Return one line for a technician: ``ttyUSB0: Toledo 8217 scale (9600 7E1)``."""
        name = self.port.rsplit("/", 1)[-1]
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
    except DeviceDisconnected as err:
        result.error = str(err)
    finally:
        result.seconds = round(time.monotonic() - started, 3)
    return result


def mark_bytes(port: str) -> bytes:
    """Return the ESC/POS bytes that show ``port``'s name (lower case: never an 8217 Z/T/C)."""
    name = port.rsplit("/", 1)[-1].lower()[:20].encode("ascii", "replace")
    return b"\x1b\x40\x0c" + b"\x1f\x24\x01\x01" + b"smartstore probe" + b"\x1f\x24\x01\x02" + name


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
