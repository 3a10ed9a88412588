"""Sans-IO codec of LCUS relay boards, for both roles.

Switch frame: ``A0 <channel> <op> <sum>`` with channel from 1, op ``01`` on (energise) or
``00`` off, sum = (A0 + channel + op) & 0xFF. No reply to switching. A single ``FF`` asks a
multi-channel board for ``CH1: ON \\r\\nCH2: OFF\\r\\n`` status lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

HEADER = 0xA0
STATUS_QUERY = b"\xff"
_STATUS_LINE = re.compile(rb"CH(\d+):\s*(ON|OFF)\s*")
_MAX_LINE = 64


class Role(Enum):
    """Which side of the line the codec plays."""

    HOST = "host"
    DEVICE = "device"


@dataclass(frozen=True)
class SetRelay:
    """Command (host to board): switch one channel."""

    channel: int
    on: bool


@dataclass(frozen=True)
class QueryStatus:
    """Command (host to board): ask for channel states."""


@dataclass(frozen=True)
class RelayStatus:
    """Event (board to host): one channel's state."""

    channel: int
    on: bool


@dataclass(frozen=True)
class Garbage:
    """Event: bytes that form no valid frame; they were skipped."""

    data: bytes


LcusEvent = SetRelay | QueryStatus | RelayStatus | Garbage


def encode_set(channel: int, on: bool) -> bytes:
    """Return the 4-byte switch frame for ``channel`` (1-8)."""
    if not 1 <= channel <= 8:
        raise ValueError(f"LCUS channel must be 1-8, got {channel}")
    op = 1 if on else 0
    return bytes([HEADER, channel, op, (HEADER + channel + op) & 0xFF])


def encode_status(states: dict[int, bool]) -> bytes:
    """Return the board's status reply for ``{channel: on}``."""
    return b"".join(f"CH{ch}: {'ON ' if on else 'OFF'}\r\n".encode() for ch, on in sorted(states.items()))


class LcusCodec:
    """Bytes in, events out; commands in, bytes out."""

    def __init__(self, role: Role) -> None:
        """Create a codec for ``role``."""
        self.role = role
        self._buf = bytearray()

    def send(self, msg: SetRelay | QueryStatus | dict[int, bool]) -> bytes:
        """Encode a command (host) or a status reply given as ``{channel: on}`` (device)."""
        if isinstance(msg, SetRelay):
            return encode_set(msg.channel, msg.on)
        if isinstance(msg, QueryStatus):
            return STATUS_QUERY
        return encode_status(msg)

    def receive_data(self, data: bytes) -> list[LcusEvent]:
        """Buffer ``data`` and return every complete event."""
        self._buf += data
        if self.role is Role.DEVICE:
            return self._device_events()
        return self._host_events()

    def _device_events(self) -> list[LcusEvent]:
        events: list[LcusEvent] = []
        junk = bytearray()
        buf = self._buf
        while buf:
            if buf[0] == 0xFF:
                del buf[0]
                if junk:
                    events.append(Garbage(bytes(junk)))
                    junk.clear()
                events.append(QueryStatus())
                continue
            if buf[0] != HEADER:
                junk.append(buf.pop(0))
                continue
            if len(buf) < 4:
                break
            ch, op, total = buf[1], buf[2], buf[3]
            if op in (0, 1) and 1 <= ch <= 8 and (HEADER + ch + op) & 0xFF == total:
                if junk:
                    events.append(Garbage(bytes(junk)))
                    junk.clear()
                events.append(SetRelay(ch, op == 1))
                del buf[:4]
            else:
                junk.append(buf.pop(0))
        if junk:
            events.append(Garbage(bytes(junk)))
        return events

    def _host_events(self) -> list[LcusEvent]:
        events: list[LcusEvent] = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > _MAX_LINE:
                    events.append(Garbage(bytes(self._buf)))
                    self._buf.clear()
                return events
            line = bytes(self._buf[: end + 1])
            del self._buf[: end + 1]
            match = _STATUS_LINE.fullmatch(line.strip(b"\r\n") + b" ") or _STATUS_LINE.match(line)
            if match:
                events.append(RelayStatus(int(match.group(1)), match.group(2) == b"ON"))
            else:
                events.append(Garbage(line))


# ---------------------------------------------------------------- probing (``devices probe``)
def probe_request() -> bytes:
    """Return the probe's query: the ``FF`` status query (multi-channel boards answer it)."""
    return LcusCodec(Role.HOST).send(QueryStatus())


def identify(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` holds LCUS status lines."""
    states = {e.channel: e.on for e in LcusCodec(Role.HOST).receive_data(data) if isinstance(e, RelayStatus)}
    if not states:
        return None
    return {
        "channels": str(len(states)),
        "states": ",".join(f"{ch}:{'on' if on else 'off'}" for ch, on in sorted(states.items())),
    }
