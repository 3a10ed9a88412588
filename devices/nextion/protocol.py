"""Sans-IO codec of Nextion HMI displays, for both roles.

Host to display: an ASCII instruction followed by ``FF FF FF`` (``t0.txt="Hello"``,
``n0.val=50``, ``page 1``, ``get t0.txt``, ``sendme``, ``bkcmd=3``). Strings are quoted, with
``\\"`` and ``\\\\`` escaped and ``\\r`` for a line break.

Display to host: frames that end ``FF FF FF``, dispatched on the first byte with fixed lengths
(yozik04/nextion, NeoNextion): ``01`` ok, ``00 00 00`` startup vs ``00`` invalid instruction,
``02``-``24`` errors, ``65 pp cc ee`` touch, ``66 pp`` current page, ``67``/``68`` touch x,y,
``70 <text>`` string (the only variable length), ``71 b0..b3`` int32 LE, ``86``-``89`` sleep /
wake / ready / upgrade, ``FE``/``FD`` transparent data. Anything else, or a frame whose tail is
not ``FF FF FF``, costs one byte of ``Garbage`` and the parser resynchronises.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import Enum

END = b"\xff\xff\xff"
MAX_STRING = 256

RETURN_CODES = {
    0x00: "invalid instruction",
    0x01: "success",
    0x02: "invalid component id",
    0x03: "invalid page id",
    0x04: "invalid picture id",
    0x05: "invalid font id",
    0x06: "invalid file operation",
    0x09: "invalid CRC",
    0x11: "invalid baud rate",
    0x12: "invalid waveform id or channel",
    0x1A: "invalid variable name or attribute",
    0x1B: "invalid variable operation",
    0x1C: "assignment failed",
    0x1D: "EEPROM operation failed",
    0x1E: "invalid quantity of parameters",
    0x1F: "IO operation failed",
    0x20: "escape character invalid",
    0x23: "variable name too long",
    0x24: "serial buffer overflow",
}
_STATUS_FRAMES = {
    0x86: "sleep",
    0x87: "wake",
    0x88: "ready",
    0x89: "upgrade",
    0xFD: "transparent_done",
    0xFE: "transparent_ready",
}
# first byte -> frame length including FF FF FF (0x00 and 0x70 are special)
_FIXED = (
    {code: 4 for code in RETURN_CODES if code != 0x00}
    | dict.fromkeys(_STATUS_FRAMES, 4)
    | {0x65: 7, 0x66: 5, 0x67: 9, 0x68: 9, 0x71: 8}
)

_ASSIGN = re.compile(r'(?P<obj>[A-Za-z_][\w.]*)\.(?P<attr>[a-z0-9_]+)=(?:"(?P<s>(?:[^"\\]|\\.)*)"|(?P<n>-?\d+))')
_GET = re.compile(r"get (?P<obj>[A-Za-z_][\w.]*)\.(?P<attr>[a-z0-9_]+)")
_SYSVAR = re.compile(r"(?P<name>bkcmd|dim|dims|sleep|thsp|thup|baud|bauds)=(?P<n>\d+)")


class Role(Enum):
    """Which side of the line the codec plays."""

    HOST = "host"
    DEVICE = "device"


# ---------------------------------------------------------------- host to display
@dataclass(frozen=True)
class Instruction:
    """One instruction as text, without the terminator."""

    text: str


def escape(text: str) -> str:
    """Escape ``text`` for a quoted Nextion string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\r\n", "\\r").replace("\n", "\\r")


def unescape(text: str) -> str:
    """Undo ``escape``."""
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        out.append("\n" if nxt == "r" else nxt)
    return "".join(out)


def set_text(component: str, text: str, attribute: str = "txt") -> Instruction:
    """Return ``component.txt="text"``."""
    return Instruction(f'{component}.{attribute}="{escape(text)}"')


def set_number(component: str, value: int, attribute: str = "val") -> Instruction:
    """Return ``component.val=value``."""
    return Instruction(f"{component}.{attribute}={int(value)}")


def show_page(page: str | int) -> Instruction:
    """Return ``page <name or id>``."""
    return Instruction(f"page {page}")


def get(component: str, attribute: str) -> Instruction:
    """Return ``get component.attribute``."""
    return Instruction(f"get {component}.{attribute}")


SENDME = Instruction("sendme")


def bkcmd(level: int) -> Instruction:
    """Return ``bkcmd=level`` (3: answer every instruction, 2: failures only)."""
    return Instruction(f"bkcmd={level}")


# ---------------------------------------------------------------- display to host
@dataclass(frozen=True)
class ReturnCode:
    """``01`` success or an error code (``00`` invalid instruction, ``1A`` invalid variable...)."""

    code: int

    @property
    def ok(self) -> bool:
        """Return whether the instruction succeeded."""
        return self.code == 0x01

    @property
    def meaning(self) -> str:
        """Return the code in words."""
        return RETURN_CODES.get(self.code, f"code 0x{self.code:02X}")


@dataclass(frozen=True)
class Startup:
    """``00 00 00 FF FF FF``: the display just powered up."""


@dataclass(frozen=True)
class DisplayState:
    """``86`` sleep, ``87`` wake, ``88`` ready, ``89`` upgrade, ``FE``/``FD`` transparent data."""

    state: str


@dataclass(frozen=True)
class Touch:
    """``65 pp cc ee``: component ``component`` on page ``page`` pressed (True) or released."""

    page: int
    component: int
    pressed: bool


@dataclass(frozen=True)
class CurrentPage:
    """``66 pp``: reply to ``sendme``."""

    page: int


@dataclass(frozen=True)
class TouchXY:
    """``67``/``68``: raw touch coordinates (``asleep`` for ``68``)."""

    x: int
    y: int
    pressed: bool
    asleep: bool


@dataclass(frozen=True)
class StringValue:
    """``70 <text>``: reply to ``get obj.txt``."""

    text: str


@dataclass(frozen=True)
class NumberValue:
    """``71 b0 b1 b2 b3``: reply to ``get obj.val`` (int32 little-endian)."""

    value: int


@dataclass(frozen=True)
class Garbage:
    """Bytes that form no frame; skipped."""

    data: bytes
    reason: str


NextionReply = ReturnCode | Startup | DisplayState | Touch | CurrentPage | TouchXY | StringValue | NumberValue
NextionEvent = NextionReply | Instruction | Garbage


def encode_reply(reply: NextionReply, encoding: str = "iso-8859-1") -> bytes:
    """Encode a display-to-host frame (device side)."""
    if isinstance(reply, ReturnCode):
        body = bytes([reply.code])
    elif isinstance(reply, Startup):
        body = b"\x00\x00\x00"
    elif isinstance(reply, DisplayState):
        body = bytes([next(code for code, name in _STATUS_FRAMES.items() if name == reply.state)])
    elif isinstance(reply, Touch):
        body = bytes([0x65, reply.page & 0xFF, reply.component & 0xFF, 1 if reply.pressed else 0])
    elif isinstance(reply, CurrentPage):
        body = bytes([0x66, reply.page & 0xFF])
    elif isinstance(reply, TouchXY):
        body = bytes([0x68 if reply.asleep else 0x67]) + struct.pack(
            ">HHB", reply.x, reply.y, 1 if reply.pressed else 0
        )
    elif isinstance(reply, StringValue):
        body = b"\x70" + reply.text.encode(encoding, errors="replace").replace(END, b"")
    else:
        body = b"\x71" + struct.pack("<i", reply.value)
    return body + END


class NextionCodec:
    """Instructions in, bytes out, return codes and events out of bytes (host); the reverse (device)."""

    def __init__(self, role: Role, *, encoding: str = "iso-8859-1") -> None:
        """Create a codec for ``role``; ``encoding`` is the display's font encoding."""
        self.role = role
        self.encoding = encoding
        self._buf = bytearray()

    def reset(self) -> None:
        """Drop a partial frame."""
        self._buf.clear()

    def send(self, msg: Instruction | NextionReply) -> bytes:
        """Encode an instruction (host) or a reply frame (device)."""
        if isinstance(msg, Instruction):
            return msg.text.encode(self.encoding, errors="replace") + END
        return encode_reply(msg, self.encoding)

    def receive_data(self, data: bytes) -> list[NextionEvent]:
        """Buffer ``data``; return every complete frame (host) or instruction (device)."""
        self._buf += data
        return self._device_events() if self.role is Role.DEVICE else self._host_events()

    def _device_events(self) -> list[NextionEvent]:
        events: list[NextionEvent] = []
        while True:
            end = self._buf.find(END)
            if end < 0:
                if len(self._buf) > 4096:
                    events.append(Garbage(bytes(self._buf), "instruction too long"))
                    self._buf.clear()
                return events
            raw = bytes(self._buf[:end])
            del self._buf[: end + 3]
            if raw:  # an empty instruction (the usual FF FF FF flush) is not an event
                events.append(Instruction(raw.decode(self.encoding, errors="replace")))

    def _host_events(self) -> list[NextionEvent]:
        events: list[NextionEvent] = []
        junk = bytearray()
        while self._buf:
            used, event = self._frame()
            if used == 0:
                break
            if event is None:
                junk += self._buf[:used]
            else:
                if junk:
                    events.append(Garbage(bytes(junk), "not a Nextion frame"))
                    junk.clear()
                events.append(event)
            del self._buf[:used]
        if junk:
            events.append(Garbage(bytes(junk), "not a Nextion frame"))
        return events

    def _frame(self) -> tuple[int, NextionReply | None]:
        """Return (bytes used, event) for the frame at the buffer start; used 0 = need more."""
        buf = self._buf
        first = buf[0]
        if first == 0x00:
            if len(buf) < 2:
                return 0, None
            length = 4 if buf[1] == 0xFF else 6
        elif first == 0x70:
            end = buf.find(END, 1)
            if end < 0:
                return (1, None) if len(buf) > MAX_STRING else (0, None)
            text = bytes(buf[1:end]).decode(self.encoding, errors="replace")
            return end + 3, StringValue(text)
        elif first in _FIXED:
            length = _FIXED[first]
        else:
            return 1, None
        if len(buf) < length:
            return 0, None
        if buf[length - 3 : length] != END:
            return 1, None
        return length, self._decode(bytes(buf[: length - 3]))

    @staticmethod
    def _decode(body: bytes) -> NextionReply | None:
        first = body[0]
        if first == 0x00:
            return Startup() if body == b"\x00\x00\x00" else (ReturnCode(0x00) if len(body) == 1 else None)
        if first in _STATUS_FRAMES:
            return DisplayState(_STATUS_FRAMES[first])
        if first == 0x65:
            return Touch(body[1], body[2], body[3] == 1)
        if first == 0x66:
            return CurrentPage(body[1])
        if first in (0x67, 0x68):
            x, y, event = struct.unpack(">HHB", body[1:6])
            return TouchXY(x, y, event == 1, first == 0x68)
        if first == 0x71:
            return NumberValue(struct.unpack("<i", body[1:5])[0])
        return ReturnCode(first)


def parse_instruction(text: str) -> tuple[str, ...]:
    """Split an instruction for the simulator.

    Returns:
        ``("assign", obj, attr, value)`` with a ``str`` or decimal-string value,
        ``("get", obj, attr)``, ``("page", target)``, ``("sendme",)``, ``("sys", name, value)``
        or ``("unknown", text)``.
    """
    match = _ASSIGN.fullmatch(text)
    if match is not None:
        if match["s"] is not None:
            return ("assign_text", match["obj"], match["attr"], unescape(match["s"]))
        return ("assign_number", match["obj"], match["attr"], match["n"])
    match = _GET.fullmatch(text)
    if match is not None:
        return ("get", match["obj"], match["attr"])
    if text.startswith("page "):
        return ("page", text[5:].strip())
    if text == "sendme":
        return ("sendme",)
    match = _SYSVAR.fullmatch(text)
    if match is not None:
        return ("sys", match["name"], match["n"])
    return ("unknown", text)


# ---------------------------------------------------------------- probing (``devices probe``)
def probe_request() -> bytes:
    """Return the probe's query: a terminator (ends any partial instruction), then ``sendme``."""
    return END + NextionCodec(Role.HOST).send(SENDME)


def identify(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` holds Nextion frames (the ``sendme`` answer)."""
    events = NextionCodec(Role.HOST).receive_data(data)
    page = next((e.page for e in events if isinstance(e, CurrentPage)), None)
    if page is not None:
        return {"page": str(page)}
    if any(isinstance(e, (ReturnCode, Startup)) for e in events):
        return {"page": "unknown"}
    return None
