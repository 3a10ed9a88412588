"""Sans-IO codec of 2×20 customer pole displays (Epson DM-D command mode, and CD5220 mode).

The host encodes commands to bytes; the display (device role) decodes the byte stream back into
commands so the simulator can keep a model of the screen. Displays never answer, so the host
side treats any received byte as ``Garbage``.

Epson: ``1B 40`` initialise, ``0C`` clear, ``18`` clear line, ``1F 24 x y`` cursor (x 1..20,
y 1..2), ``0B``/``0D``/``0A``/``08``/``09`` home/CR/LF/left/right, ``1F 01|02|03`` overwrite /
vertical / horizontal scroll, ``1F 43 n`` cursor, ``1F 58 n`` brightness, ``1F 45 n`` blink,
``1B 74 n`` code table, ``1B 3D n`` select device. CD5220: ``1B 51 41 <text> 0D`` upper line,
``1B 51 42 <text> 0D`` lower line, ``1B 6C x y`` cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

ESC = 0x1B
US = 0x1F
MAX_CD5220_LINE = 64

Dialect = Literal["epson", "cd5220"]


class Role(Enum):
    """Which side of the line the codec plays."""

    HOST = "host"
    DEVICE = "device"


class Op(Enum):
    """Commands without arguments, with their Epson bytes."""

    INIT = b"\x1b\x40"
    CLEAR = b"\x0c"
    CLEAR_LINE = b"\x18"
    HOME = b"\x0b"
    CARRIAGE_RETURN = b"\x0d"
    LINE_FEED = b"\x0a"
    LEFT = b"\x08"
    RIGHT = b"\x09"
    OVERWRITE_MODE = b"\x1f\x01"
    VERTICAL_SCROLL_MODE = b"\x1f\x02"
    HORIZONTAL_SCROLL_MODE = b"\x1f\x03"


@dataclass(frozen=True)
class Simple:
    """A command without arguments."""

    op: Op


@dataclass(frozen=True)
class MoveCursor:
    """Move the cursor to column ``x`` (1-based) of line ``y`` (1-based)."""

    x: int
    y: int
    dialect: Dialect = "epson"


SettingKind = Literal["cursor", "brightness", "blink", "code_table", "select_device"]
_SETTING_PREFIX: dict[SettingKind, bytes] = {
    "cursor": b"\x1f\x43",
    "brightness": b"\x1f\x58",
    "blink": b"\x1f\x45",
    "code_table": b"\x1b\x74",
    "select_device": b"\x1b\x3d",
}
_PREFIX_SETTING = {prefix: kind for kind, prefix in _SETTING_PREFIX.items()}
_SIMPLE = {op.value: op for op in Op}


@dataclass(frozen=True)
class Setting:
    """A one-argument setting: cursor on/off, brightness 1-4, blink, code table, device select."""

    kind: SettingKind
    value: int


@dataclass(frozen=True)
class Text:
    """Characters to show at the cursor (already encoded in the display's code table)."""

    data: bytes


@dataclass(frozen=True)
class WriteLine:
    """CD5220: replace line ``line`` (1 upper, 2 lower) with ``data``."""

    line: int
    data: bytes


@dataclass(frozen=True)
class Garbage:
    """Bytes that form no command; skipped."""

    data: bytes
    reason: str


DisplayCommand = Simple | MoveCursor | Setting | Text | WriteLine
DisplayEvent = Simple | MoveCursor | Setting | Text | WriteLine | Garbage

INIT = Simple(Op.INIT)
CLEAR = Simple(Op.CLEAR)
OVERWRITE = Simple(Op.OVERWRITE_MODE)


def encode_text(text: str, encoding: str = "cp437") -> bytes:
    """Encode ``text`` for the display; unknown characters become ``?`` and controls are dropped."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return printable.encode(encoding, errors="replace")


def encode(command: DisplayCommand) -> bytes:
    """Encode one command."""
    if isinstance(command, Simple):
        return command.op.value
    if isinstance(command, MoveCursor):
        prefix = b"\x1b\x6c" if command.dialect == "cd5220" else b"\x1f\x24"
        return prefix + bytes([command.x & 0xFF, command.y & 0xFF])
    if isinstance(command, Setting):
        return _SETTING_PREFIX[command.kind] + bytes([command.value & 0xFF])
    if isinstance(command, WriteLine):
        return b"\x1b\x51" + (b"A" if command.line == 1 else b"B") + command.data.replace(b"\r", b" ") + b"\r"
    return command.data


def encode_all(commands: Iterable[DisplayCommand]) -> bytes:
    """Encode a sequence of commands."""
    return b"".join(encode(command) for command in commands)


def show_lines(
    line1: str, line2: str, *, columns: int = 20, dialect: Dialect = "epson", encoding: str = "cp437"
) -> list[DisplayCommand]:
    """Return commands that replace both lines (padded, so no clear and no flicker)."""
    rows = [f"{line[:columns]:<{columns}}" for line in (line1, line2)]
    if dialect == "cd5220":
        return [WriteLine(1, encode_text(rows[0], encoding)), WriteLine(2, encode_text(rows[1], encoding))]
    return [
        MoveCursor(1, 1),
        Text(encode_text(rows[0], encoding)),
        MoveCursor(1, 2),
        Text(encode_text(rows[1], encoding)),
    ]


def total_screen(label: str, amount: str, *, columns: int = 20, encoding: str = "cp437") -> list[DisplayCommand]:
    """Return ``label`` left on line 1 and ``amount`` right-aligned on line 2 (Epson)."""
    amount = amount[:columns]
    return [
        CLEAR,
        MoveCursor(1, 1),
        Text(encode_text(label[:columns], encoding)),
        MoveCursor(columns - len(amount) + 1, 2),
        Text(encode_text(amount, encoding)),
    ]


def setup(*, dialect: Dialect = "epson", select_device: int | None = None) -> list[DisplayCommand]:
    """Return the commands sent after every (re)connect: select, initialise, overwrite, cursor off."""
    commands: list[DisplayCommand] = []
    if select_device is not None:
        commands.append(Setting("select_device", select_device))
    commands.append(INIT)
    if dialect == "epson":
        commands += [OVERWRITE, Setting("cursor", 0)]
    return commands


class EscposCodec:
    """Commands in, bytes out (host); bytes in, commands out (device)."""

    def __init__(self, role: Role) -> None:
        """Create a codec for ``role``."""
        self.role = role
        self._buf = bytearray()

    def reset(self) -> None:
        """Drop a partial command."""
        self._buf.clear()

    def send(self, commands: DisplayCommand | Sequence[DisplayCommand]) -> bytes:
        """Encode one command or a sequence of them."""
        if isinstance(commands, (Simple, MoveCursor, Setting, Text, WriteLine)):
            return encode(commands)
        return encode_all(commands)

    def receive_data(self, data: bytes) -> list[DisplayEvent]:
        """Decode ``data``: commands (device side) or garbage (host side: displays never talk)."""
        if self.role is Role.HOST:
            return [Garbage(data, "a display sent bytes")] if data else []
        self._buf += data
        events: list[DisplayEvent] = []
        while self._buf:
            taken = self._one(events)
            if taken == 0:
                break
            del self._buf[:taken]
        return events

    @staticmethod
    def _append(events: list[DisplayEvent], event: DisplayEvent) -> None:
        if events and isinstance(event, Text) and isinstance(events[-1], Text):
            events[-1] = Text(events[-1].data + event.data)
        elif events and isinstance(event, Garbage) and isinstance(events[-1], Garbage):
            events[-1] = Garbage(events[-1].data + event.data, events[-1].reason)
        else:
            events.append(event)

    def _one(self, events: list[DisplayEvent]) -> int:
        """Decode the command at the buffer start; return bytes used, 0 if incomplete."""
        buf = self._buf
        first = buf[0]
        if first in (ESC, US):
            if len(buf) < 2:
                return 0
            two = bytes(buf[:2])
            if two in _SIMPLE:
                self._append(events, Simple(_SIMPLE[two]))
                return 2
            if two in _PREFIX_SETTING:
                if len(buf) < 3:
                    return 0
                self._append(events, Setting(_PREFIX_SETTING[two], buf[2]))
                return 3
            if two in (b"\x1f\x24", b"\x1b\x6c"):
                if len(buf) < 4:
                    return 0
                self._append(events, MoveCursor(buf[2], buf[3], "epson" if first == US else "cd5220"))
                return 4
            if two == b"\x1b\x51":
                return self._write_line(events)
            self._append(events, Garbage(bytes([first]), "unknown escape sequence"))
            return 1
        single = bytes([first])
        if single in _SIMPLE:
            self._append(events, Simple(_SIMPLE[single]))
            return 1
        if first >= 0x20 and first != 0x7F:
            self._append(events, Text(single))
            return 1
        self._append(events, Garbage(single, "control byte"))
        return 1

    def _write_line(self, events: list[DisplayEvent]) -> int:
        buf = self._buf
        if len(buf) < 3:
            return 0
        if buf[2] not in b"AB":
            self._append(events, Garbage(bytes(buf[:1]), "unknown ESC Q line"))
            return 1
        end = buf.find(b"\r", 3)
        if end < 0:
            if len(buf) > MAX_CD5220_LINE + 3:
                self._append(events, Garbage(bytes(buf[:1]), "ESC Q line never ended"))
                return 1
            return 0
        if end - 3 > MAX_CD5220_LINE:
            self._append(events, Garbage(bytes(buf[:1]), "ESC Q line too long"))
            return 1
        self._append(events, WriteLine(1 if buf[2] == ord("A") else 2, bytes(buf[3:end])))
        return end + 1


# ---------------------------------------------------------------- probing (``devices probe --mark``)
def mark_screen(label: str, port_name: str) -> bytes:
    """Return the bytes that show ``label`` over ``port_name`` (ASCII; unknown characters become ``?``)."""
    name = port_name.encode("ascii", "replace")
    return EscposCodec(Role.HOST).send(
        [INIT, CLEAR, MoveCursor(1, 1), Text(label.encode("ascii")), MoveCursor(1, 2), Text(name)]
    )
