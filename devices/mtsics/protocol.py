"""Sans-IO codec of Mettler Toledo MT-SICS (level 0/1), for both roles.

Every command and reply is an ASCII line ending CR LF. A reply is ``ID SP status [SP params]``;
a weight reply is ``<ID> <status> <value right-aligned in 10> <unit>`` (``S S     100.00 g``).
Statuses: ``S`` stable, ``D`` dynamic, ``A`` done, ``I`` not executable, ``+``/``-`` over/under
range, ``L`` logical error. ``ES``/``ET``/``EL`` are general errors with no status field.

The host side turns reply lines into ``WeightReply``/``StatusReply``/``TextReply``/
``SicsError`` events; the device side turns command lines into ``CommandLine`` events. Lines
longer than ``MAX_LINE`` or with non-ASCII bytes become ``Garbage`` (wrong baud rate looks
exactly like that), and the codec resynchronises on the next line end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

EOL = b"\r\n"
MAX_LINE = 128
WEIGHT_FIELD = 10
STATUSES = "SDAI+-L"
ERROR_CODES = {"ES": "syntax error", "ET": "transmission error", "EL": "logical error"}

_REPLY = re.compile(r"(?P<id>[A-Z][A-Z0-9]{0,3}) (?P<st>[SDAI+\-L])(?: +(?P<rest>.*))?")
_VALUE = re.compile(r"(?P<v>-?\d+(?:\.\d+)?) (?P<u>\S+)")
_TEXT = re.compile(r'"(?P<t>[^"]*)"')
_COMMAND = re.compile(r"(?P<name>[A-Z@][A-Z0-9]{0,3})(?: (?P<params>.*))?")


class Role(Enum):
    """Which side of the line the codec plays."""

    HOST = "host"
    DEVICE = "device"


# ---------------------------------------------------------------- commands (host to balance)
@dataclass(frozen=True)
class Command:
    """A command line: name and optional parameters (``S``, ``SI``, ``Z``, ``TA 2.486 g``...)."""

    name: str
    params: tuple[str, ...] = ()

    def line(self) -> str:
        """Return the command as text, without the line end."""
        return " ".join((self.name, *self.params))


WEIGH_STABLE = Command("S")
WEIGH_IMMEDIATE = Command("SI")
ZERO = Command("Z")
ZERO_IMMEDIATE = Command("ZI")
TARE = Command("T")
TARE_IMMEDIATE = Command("TI")
QUERY_TARE = Command("TA")
CLEAR_TARE = Command("TAC")
RESET = Command("@")


def preset_tare(value: str, unit: str) -> Command:
    """Return ``TA <value> <unit>`` (preset a tare)."""
    return Command("TA", (value, unit))


# ---------------------------------------------------------------- replies (balance to host)
@dataclass(frozen=True)
class WeightReply:
    """A reply carrying a value: ``S S 100.00 g``, ``S D ...``, ``T S ...``, ``TA A ...``."""

    command: str
    status: str
    value: str
    unit: str

    @property
    def number(self) -> float:
        """Return the value as a float."""
        return float(self.value)

    @property
    def stable(self) -> bool:
        """Return whether the balance called the value stable."""
        return self.status == "S"


@dataclass(frozen=True)
class StatusReply:
    """A reply with a status and no value: ``Z A``, ``S I``, ``S +``, ``TAC A``."""

    command: str
    status: str


@dataclass(frozen=True)
class TextReply:
    """A reply with quoted text: ``I4 A "0123456789"`` (serial number, sent after ``@``)."""

    command: str
    status: str
    text: str


@dataclass(frozen=True)
class SicsError:
    """A general error: ``ES`` syntax, ``ET`` transmission, ``EL`` logical."""

    code: str

    @property
    def meaning(self) -> str:
        """Return the error in words."""
        return ERROR_CODES.get(self.code, "unknown error")


@dataclass(frozen=True)
class CommandLine:
    """Event (device side): a command line received from the host."""

    command: Command


@dataclass(frozen=True)
class Garbage:
    """Bytes that form no valid line; they were skipped."""

    data: bytes
    reason: str


SicsReply = WeightReply | StatusReply | TextReply | SicsError
SicsEvent = WeightReply | StatusReply | TextReply | SicsError | CommandLine | Garbage


def format_weight(value: float, decimals: int) -> str:
    """Format a value as the balance does: fixed decimals, right-aligned in 10 characters."""
    return f"{value:.{decimals}f}".rjust(WEIGHT_FIELD)


def encode_reply(reply: SicsReply) -> bytes:
    """Encode a reply line (device side)."""
    if isinstance(reply, SicsError):
        text = reply.code
    elif isinstance(reply, WeightReply):
        text = f"{reply.command} {reply.status} {reply.value.rjust(WEIGHT_FIELD)} {reply.unit}"
    elif isinstance(reply, TextReply):
        text = f'{reply.command} {reply.status} "{reply.text}"'
    else:
        text = f"{reply.command} {reply.status}"
    return text.encode("ascii") + EOL


def parse_reply(line: str) -> SicsReply | None:
    """Parse one reply line (without CR LF); return None if it is not MT-SICS."""
    if line in ERROR_CODES:
        return SicsError(line)
    match = _REPLY.fullmatch(line)
    if match is None:
        return None
    ident, status, rest = match["id"], match["st"], (match["rest"] or "").strip()
    if not rest:
        return StatusReply(ident, status)
    value = _VALUE.fullmatch(rest)
    if value is not None:
        return WeightReply(ident, status, value["v"], value["u"])
    text = _TEXT.fullmatch(rest)
    if text is not None:
        return TextReply(ident, status, text["t"])
    return None


def parse_command(line: str) -> Command | None:
    """Parse one command line (without CR LF); return None if it is not a command."""
    match = _COMMAND.fullmatch(line)
    if match is None:
        return None
    params = tuple(match["params"].split(" ")) if match["params"] else ()
    return Command(match["name"], params)


class MtSicsCodec:
    """Bytes in, events out; commands or replies in, bytes out."""

    def __init__(self, role: Role) -> None:
        """Create a codec for ``role``."""
        self.role = role
        self._buf = bytearray()
        self._overflow = False

    def reset(self) -> None:
        """Drop a partial line (after the driver flushed its input)."""
        self._buf.clear()
        self._overflow = False

    def send(self, msg: Command | SicsReply) -> bytes:
        """Encode a command (host) or a reply (device)."""
        if isinstance(msg, Command):
            return msg.line().encode("ascii") + EOL
        return encode_reply(msg)

    def receive_data(self, data: bytes) -> list[SicsEvent]:
        """Buffer ``data``; return an event for every complete line."""
        events: list[SicsEvent] = []
        for byte in data:
            if byte == 0x0A:  # LF ends a line; a CR before it is dropped below
                if self._overflow:
                    events.append(Garbage(bytes(self._buf), "line too long"))
                    self._overflow = False
                elif self._buf.rstrip(b"\r"):
                    events.append(self._line(bytes(self._buf).rstrip(b"\r")))
                self._buf.clear()
                continue
            if len(self._buf) >= MAX_LINE:
                self._overflow = True
                continue
            self._buf.append(byte)
        return events

    def _line(self, raw: bytes) -> SicsEvent:
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            return Garbage(raw, "not ASCII (wrong baud rate?)")
        if not line.isprintable():
            return Garbage(raw, "control characters in line")
        if self.role is Role.HOST:
            reply = parse_reply(line)
            return reply if reply is not None else Garbage(raw, "not an MT-SICS reply")
        command = parse_command(line)
        return CommandLine(command) if command is not None else Garbage(raw, "not an MT-SICS command")


# ---------------------------------------------------------------- probing (``devices probe``)
def probe_request() -> bytes:
    """Return the probe's query: ``@`` (reset, answered with ``I4 A "<serial>"``; never zeroes)."""
    return MtSicsCodec(Role.HOST).send(RESET)


def identify(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` holds MT-SICS replies (to ``@``)."""
    replies = [
        e
        for e in MtSicsCodec(Role.HOST).receive_data(data)
        if isinstance(e, (TextReply, WeightReply, StatusReply, SicsError))
    ]
    if not replies:
        return None
    serial = next((e.text for e in replies if isinstance(e, TextReply) and e.command == "I4"), "")
    return {"serial_number": serial}


def identify_greeting(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` holds the ``I4 A "<serial>"`` line a balance sends at power-on."""
    for event in MtSicsCodec(Role.HOST).receive_data(data):
        if isinstance(event, TextReply) and event.command == "I4":
            return {"serial_number": event.text}
    return None
