"""Sans-IO codec of the CAS continuous output stream, for both roles.

Three frame formats end in CR LF (CI-600D / CI-150A / PDI / NT-200 manuals):

- ``cas22``: ``ST|US|OL , GS|NT , <devID> <lamp> , <data 8> SP kg CR LF``, lamp byte with b7=1,
  b6 stable, b4 hold, b3 print, b2 gross, b1 tare, b0 zero (needs an 8-bit line);
- ``and18``: ``ST,GS,+0013.50kg CR LF`` (7 data bits on the wire);
- ``data10``: ``<data 8> CR LF`` with no status at all.

``US`` is unstable, ``OL`` overload. The host side also accepts lines ending in a bare LF. On a
7-bit line (``seven_bit``) every byte is masked with ``0x7F`` before framing, so parity bits
read by an 8N1 adapter do not matter; on an 8-bit line only the ``and18``/``data10`` parsers
mask (the ``cas22`` lamp byte needs bit 7). In command mode (Caston-III) the indicator takes ``WT``
(send one frame), ``ZE`` (zero), ``TR`` (tare) and ``KT`` (key tare), each ending CR LF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

EOL = b"\r\n"
MAX_LINE = 64
FrameFormat = Literal["cas22", "and18", "data10"]
Status = Literal["ST", "US", "OL"]
Mode = Literal["GS", "NT"]
_STATUSES: dict[bytes, Status] = {b"ST": "ST", b"US": "US", b"OL": "OL"}
_MODES: dict[bytes, Mode] = {b"GS": "GS", b"NT": "NT"}
COMMANDS = ("WT", "ZE", "TR", "KT")

LAMP_ALWAYS = 0x80
LAMP_STABLE = 0x40
LAMP_HOLD = 0x10
LAMP_PRINT = 0x08
LAMP_GROSS = 0x04
LAMP_TARE = 0x02
LAMP_ZERO = 0x01

_CAS22 = re.compile(rb"(ST|US|OL),(GS|NT),([\x20-\x7e])([\x80-\xff]),([\x20-\x7e]{8}) ?(kg|g|lb|oz)", re.DOTALL)
_AND18 = re.compile(rb"(ST|US|OL),(GS|NT),([\x20-\x7e]{8}) ?(kg|g|lb|oz)")
_DATA10 = re.compile(rb"([ +\-0-9.]{8})")
_NUMBER = re.compile(r"[+-]?\s*\d+(?:\.\d+)?|[+-]?\s*\.\d+")


class Role(Enum):
    """Which side of the line the codec plays."""

    HOST = "host"
    DEVICE = "device"


@dataclass(frozen=True)
class CasFrame:
    """One streamed frame.

    ``status`` is ``ST``/``US``/``OL`` (None in ``data10``), ``mode`` ``GS``/``NT``, ``value``
    None when the data field is not a number (overload frames often carry dashes).
    """

    status: Status | None
    mode: Mode | None
    value: float | None
    unit: str
    decimals: int = 1
    lamp: int | None = None
    device_id: str = "1"
    format: FrameFormat = "cas22"

    @property
    def stable(self) -> bool:
        """Return whether the indicator flagged the weight stable."""
        return self.status == "ST" or (self.status is None and self.value is not None)

    @property
    def overload(self) -> bool:
        """Return whether the indicator reports overload."""
        return self.status == "OL"

    @property
    def net(self) -> bool:
        """Return whether the weight is net (tared)."""
        return self.mode == "NT"


@dataclass(frozen=True)
class CasCommand:
    """A command-mode request: ``WT``, ``ZE``, ``TR`` or ``KT``."""

    name: str


@dataclass(frozen=True)
class Garbage:
    """A line that is not a frame (or not a command); skipped."""

    data: bytes
    reason: str


CasEvent = CasFrame | CasCommand | Garbage


def _number(text: str) -> tuple[float | None, int]:
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        return None, 0
    compact = match.group(0).replace(" ", "")
    decimals = len(compact.split(".")[1]) if "." in compact else 0
    return float(compact), decimals


def lamp_byte(*, stable: bool, gross: bool, tare: bool, zero: bool) -> int:
    """Return the ``cas22`` lamp byte for these lamps."""
    return (
        LAMP_ALWAYS
        | (LAMP_STABLE if stable else 0)
        | (LAMP_GROSS if gross else 0)
        | (LAMP_TARE if tare else 0)
        | (LAMP_ZERO if zero else 0)
    )


def encode_frame(frame: CasFrame) -> bytes:
    """Encode ``frame`` in its own format."""
    if frame.value is None:
        data = "--OL--".rjust(8)
    elif frame.format == "and18":
        data = ("-" if frame.value < 0 else "+") + f"{abs(frame.value):0{7}.{frame.decimals}f}"
    else:
        data = f"{frame.value:0{8}.{frame.decimals}f}"
    if len(data) != 8:
        raise ValueError(f"value {frame.value} does not fit the 8-character data field")
    if frame.format == "data10":
        return data.encode("ascii") + EOL
    head = f"{frame.status},{frame.mode},".encode("ascii")
    if frame.format == "and18":
        return head + data.encode("ascii") + frame.unit.encode("ascii") + EOL
    lamp = (
        frame.lamp
        if frame.lamp is not None
        else lamp_byte(
            stable=frame.status == "ST", gross=frame.mode == "GS", tare=frame.mode == "NT", zero=frame.value == 0
        )
    )
    return (
        head
        + frame.device_id.encode("ascii")
        + bytes([lamp])
        + b","
        + data.encode("ascii")
        + b" "
        + frame.unit.encode("ascii")
        + EOL
    )


def _status(raw: bytes) -> Status:
    return _STATUSES[raw]


def _mode(raw: bytes) -> Mode:
    return _MODES[raw]


def parse_frame(line: bytes) -> CasFrame | None:
    """Parse one line (without CR LF); return None if it is not a CAS frame."""
    match = _CAS22.fullmatch(line)
    if match is not None:
        value, decimals = _number(match.group(5).decode("ascii"))
        status, mode, unit = _status(match.group(1)), _mode(match.group(2)), match.group(6).decode()
        return CasFrame(status, mode, value, unit, decimals, match.group(4)[0], match.group(3).decode(), "cas22")
    masked = bytes(b & 0x7F for b in line)
    match = _AND18.fullmatch(masked)
    if match is not None:
        value, decimals = _number(match.group(3).decode("ascii"))
        status, mode, unit = _status(match.group(1)), _mode(match.group(2)), match.group(4).decode()
        return CasFrame(status, mode, value, unit, decimals, None, "1", "and18")
    match = _DATA10.fullmatch(masked)
    if match is not None:
        value, decimals = _number(match.group(1).decode("ascii"))
        if value is not None:
            return CasFrame(None, None, value, "kg", decimals, None, "1", "data10")
    return None


class CasCodec:
    """Bytes in, frames (host) or commands (device) out; frames or commands in, bytes out."""

    def __init__(self, role: Role, *, unit_for_data10: str = "kg", seven_bit: bool = False) -> None:
        """Create a codec for ``role``; ``data10`` frames carry no unit, so it is configured."""
        self.role = role
        self.unit_for_data10 = unit_for_data10
        self.seven_bit = seven_bit
        self._buf = bytearray()
        self._overflow = False

    def reset(self) -> None:
        """Drop a partial line."""
        self._buf.clear()
        self._overflow = False

    def send(self, msg: CasFrame | CasCommand) -> bytes:
        """Encode a frame (device) or a command (host)."""
        if isinstance(msg, CasCommand):
            return msg.name.encode("ascii") + EOL
        return encode_frame(msg)

    def receive_data(self, data: bytes) -> list[CasEvent]:
        """Buffer ``data``; return an event for every complete line."""
        events: list[CasEvent] = []
        if self.seven_bit:
            data = bytes(b & 0x7F for b in data)
        for byte in data:
            if byte == 0x0A:
                if self._overflow:
                    events.append(Garbage(bytes(self._buf), "line too long"))
                elif self._buf.rstrip(b"\r"):
                    events.append(self._line(bytes(self._buf).rstrip(b"\r")))
                self._buf.clear()
                self._overflow = False
                continue
            if len(self._buf) >= MAX_LINE:
                self._overflow = True
                continue
            self._buf.append(byte)
        return events

    def _line(self, line: bytes) -> CasEvent:
        if self.role is Role.DEVICE:
            text = bytes(b & 0x7F for b in line).decode("ascii", "replace").strip()
            if text in COMMANDS:
                return CasCommand(text)
            return Garbage(line, "not a CAS command")
        frame = parse_frame(line)
        if frame is None:
            return Garbage(line, "not a CAS frame")
        if frame.format == "data10" and frame.unit != self.unit_for_data10:
            return CasFrame(None, None, frame.value, self.unit_for_data10, frame.decimals, None, "1", "data10")
        return frame


# ---------------------------------------------------------------- probing (``devices probe``)
def identify(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` holds CAS continuous frames (heard while only listening)."""
    frames = [e for e in CasCodec(Role.HOST).receive_data(data) if isinstance(e, CasFrame) and e.format != "data10"]
    if not frames:
        return None
    last = frames[-1]
    return {"format": last.format, "frames": str(len(frames)), "weight": f"{last.value} {last.unit}"}
