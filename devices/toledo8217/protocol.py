"""Sans-IO codec of the Toledo 8217 / ECR "W" protocol, for both roles.

Host to scale: single characters ``W`` (weigh), ``Z`` (zero), ``T`` (tare), ``T`` + 5 digits
(digital tare, WW.WWW kg), ``C`` (clear tare), ``E`` (echo mode), ``F`` (leave echo mode), no
terminator. Scale to host: ``STX <weight> [N] CR`` (``02 30 31 2E 32 33 34 0D`` = 1.234 kg gross,
``N`` = net; lb as ``0WW.WW``), or ``STX ? <status> CR`` when no valid weight (motion, under
zero, over capacity) and after Z/T/C; ``STX E CR`` / ``STX F CR`` enter/leave echo mode, where
the scale echoes every other character unframed.

The line is 7E1: on 8N1 adapters and ptys the parity bit may show up as bit 7, so both roles
mask every byte with ``0x7F``. The device side cannot know whether a ``T`` starts a digital
tare until the next byte arrives: it holds a lone ``T`` until a non-digit follows or the
simulator calls ``idle()`` after a short silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

STX = 0x02
CR = 0x0D
MAX_FRAME = 16
COMMAND_CHARS = frozenset(b"WZTCEF")

_WEIGHT = re.compile(rb"\s*([0-9]+\.[0-9]+)(N?)")

# Status byte bits (DIVA service manual §6.1.4).
MOTION = 0x01
OVER_CAPACITY = 0x02
UNDER_ZERO = 0x04
OUTSIDE_ZERO_RANGE = 0x08
CENTER_OF_ZERO = 0x10
NET_MODE = 0x20
ALWAYS_ONE = 0x40

ScaleCommandChar = Literal["W", "Z", "T", "C", "E", "F"]


class Role(Enum):
    """Which side of the line the codec plays."""

    HOST = "host"
    DEVICE = "device"


# ---------------------------------------------------------------- host to scale
@dataclass(frozen=True)
class ScaleCommand:
    """One single-character command: W, Z, T, C, E or F."""

    char: ScaleCommandChar


@dataclass(frozen=True)
class DigitalTare:
    """``T`` + 5 digits: preset a tare in kg with 3 decimals (``T01234`` = 1.234 kg)."""

    kg: float


@dataclass(frozen=True)
class EchoText:
    """Text the host sends in echo mode (e.g. ``hello`` of the ``Ehello`` probe)."""

    data: bytes


WEIGH = ScaleCommand("W")
ZERO = ScaleCommand("Z")
TARE = ScaleCommand("T")
CLEAR = ScaleCommand("C")
ECHO_ON = ScaleCommand("E")
ECHO_OFF = ScaleCommand("F")
PROBE_REQUEST = b"Ehello"
PROBE_REPLY = b"\x02E\rhello"


# ---------------------------------------------------------------- scale to host
@dataclass(frozen=True)
class WeightFrame:
    """A valid (stable, non-negative) weight: ``value`` in ``unit`` (kg: 3 decimals, lb: 2)."""

    value: float
    unit: Literal["kg", "lb"]
    net: bool = False


@dataclass(frozen=True)
class StatusFrame:
    """``STX ? <status> CR``: no valid weight, or the state after Z/T/C."""

    status: int

    @property
    def motion(self) -> bool:
        """Return whether the scale is in motion."""
        return bool(self.status & MOTION)

    @property
    def over_capacity(self) -> bool:
        """Return whether the load is over capacity."""
        return bool(self.status & OVER_CAPACITY)

    @property
    def under_zero(self) -> bool:
        """Return whether the weight is negative."""
        return bool(self.status & UNDER_ZERO)

    @property
    def outside_zero_range(self) -> bool:
        """Return whether a zero request was outside the capture range."""
        return bool(self.status & OUTSIDE_ZERO_RANGE)

    @property
    def center_of_zero(self) -> bool:
        """Return whether the weight is at the centre of zero."""
        return bool(self.status & CENTER_OF_ZERO)

    @property
    def net(self) -> bool:
        """Return whether the scale is in net (tared) mode."""
        return bool(self.status & NET_MODE)

    def first_problem(self) -> str | None:
        """Return the first set error bit in words (as Odoo logs it), or None."""
        for bit, text in (
            (MOTION, "motion"),
            (OVER_CAPACITY, "over capacity"),
            (UNDER_ZERO, "under zero"),
            (OUTSIDE_ZERO_RANGE, "outside zero capture range"),
        ):
            if self.status & bit:
                return text
        return None


@dataclass(frozen=True)
class EchoMode:
    """``STX E CR`` (entered) or ``STX F CR`` (left)."""

    on: bool


@dataclass(frozen=True)
class Echo:
    """Characters echoed in echo mode (host side) or to echo (device side)."""

    data: bytes


@dataclass(frozen=True)
class Garbage:
    """Bytes that form no valid frame or command; they were skipped."""

    data: bytes
    reason: str


Toledo8217Event = ScaleCommand | DigitalTare | WeightFrame | StatusFrame | EchoMode | Echo | Garbage


def status_byte(flags: int) -> int:
    """Return the status character for ``flags`` (bit 6 is always set)."""
    return (flags | ALWAYS_ONE) & 0x7F


def encode_weight(frame: WeightFrame) -> bytes:
    """Encode a weight frame: kg ``WW.WWW``, lb ``0WW.WW``, ``N`` when net."""
    if frame.value < 0:
        raise ValueError("8217 weights are never negative (the scale sends ?D instead)")
    text = f"{frame.value:06.3f}" if frame.unit == "kg" else f"{frame.value:06.2f}"
    return bytes([STX]) + text.encode("ascii") + (b"N" if frame.net else b"") + bytes([CR])


class Toledo8217Codec:
    """Bytes in, events out; commands or frames in, bytes out."""

    def __init__(self, role: Role, *, unit: Literal["kg", "lb"] | None = None) -> None:
        """Create a codec; ``unit`` forces the weight unit (else 3 decimals = kg, 2 = lb)."""
        self.role = role
        self.unit = unit
        self._buf = bytearray()
        self.echo_mode = False
        self._tare_digits: bytearray | None = None

    def reset(self) -> None:
        """Drop partial input and leave echo mode."""
        self._buf.clear()
        self.echo_mode = False
        self._tare_digits = None

    # ------------------------------------------------------------------ encoding
    def send(self, msg: ScaleCommand | DigitalTare | EchoText | WeightFrame | StatusFrame | EchoMode | Echo) -> bytes:
        """Encode a command (host) or a frame (device)."""
        if isinstance(msg, ScaleCommand):
            return msg.char.encode("ascii")
        if isinstance(msg, DigitalTare):
            grams = round(msg.kg * 1000)
            if not 0 <= grams <= 99999:
                raise ValueError("digital tare must be 0-99.999 kg")
            return b"T" + f"{grams:05d}".encode("ascii")
        if isinstance(msg, (EchoText, Echo)):
            return msg.data
        if isinstance(msg, WeightFrame):
            return encode_weight(msg)
        if isinstance(msg, StatusFrame):
            return bytes([STX, ord("?"), status_byte(msg.status), CR])
        return bytes([STX, ord("E" if msg.on else "F"), CR])

    # ------------------------------------------------------------------ decoding
    def receive_data(self, data: bytes) -> list[Toledo8217Event]:
        """Buffer ``data`` (masked to 7 bits); return every complete event."""
        masked = bytes(b & 0x7F for b in data)
        if self.role is Role.DEVICE:
            return self._device_events(masked)
        self._buf += masked
        return self._host_events()

    def idle(self) -> list[Toledo8217Event]:
        """Tell the device side the line went quiet: a held ``T`` is a plain tare."""
        if self.role is Role.DEVICE and self._tare_digits is not None:
            return self._finish_tare()
        return []

    def _finish_tare(self) -> list[Toledo8217Event]:
        digits, self._tare_digits = self._tare_digits or bytearray(), None
        if not digits:
            return [TARE]
        if len(digits) == 5:
            return [DigitalTare(int(digits) / 1000)]
        return [Garbage(b"T" + bytes(digits), "digital tare needs 5 digits")]

    def _device_events(self, data: bytes) -> list[Toledo8217Event]:
        events: list[Toledo8217Event] = []
        junk = bytearray()

        def flush_junk() -> None:
            if junk:
                events.append(Garbage(bytes(junk), "not a command"))
                junk.clear()

        for byte in data:
            if self._tare_digits is not None:
                if 0x30 <= byte <= 0x39:
                    self._tare_digits.append(byte)
                    if len(self._tare_digits) == 5:
                        events.extend(self._finish_tare())
                    continue
                events.extend(self._finish_tare())
            if self.echo_mode:
                if byte == ord("F"):
                    flush_junk()
                    self.echo_mode = False
                    events.append(ECHO_OFF)
                elif events and isinstance(events[-1], Echo):
                    events[-1] = Echo(events[-1].data + bytes([byte]))
                else:
                    events.append(Echo(bytes([byte])))
                continue
            if byte == ord("T"):
                flush_junk()
                self._tare_digits = bytearray()
                continue
            if byte in COMMAND_CHARS:
                flush_junk()
                char: ScaleCommandChar = chr(byte)  # type: ignore[assignment]
                events.append(ScaleCommand(char))
                if char == "E":
                    self.echo_mode = True
                continue
            if byte in (0x0D, 0x0A):
                continue  # some hosts add a line end; harmless
            junk.append(byte)
        flush_junk()
        return events

    def _host_events(self) -> list[Toledo8217Event]:
        events: list[Toledo8217Event] = []
        buf = self._buf
        junk = bytearray()

        def flush_junk() -> None:
            if junk:
                events.append(Echo(bytes(junk)) if self.echo_mode else Garbage(bytes(junk), "outside a frame"))
                junk.clear()

        while buf:
            if buf[0] != STX:
                junk.append(buf.pop(0))
                continue
            end = buf.find(bytes([CR]), 1, MAX_FRAME + 1)
            if end < 0:
                if len(buf) > MAX_FRAME:  # STX with no CR in reach: not a frame start
                    junk.append(buf.pop(0))
                    continue
                break
            frame = bytes(buf[1:end])
            event = self._frame(frame)
            if event is None:
                junk.append(buf.pop(0))  # resynchronise one byte later
                continue
            flush_junk()
            del buf[: end + 1]
            if isinstance(event, EchoMode):
                self.echo_mode = event.on
            events.append(event)
        flush_junk()
        return events

    def _frame(self, body: bytes) -> Toledo8217Event | None:
        if body == b"E":
            return EchoMode(True)
        if body == b"F":
            return EchoMode(False)
        if len(body) == 2 and body[:1] == b"?" and body[1] & ALWAYS_ONE:
            return StatusFrame(body[1] & ~ALWAYS_ONE & 0x3F)
        match = _WEIGHT.fullmatch(body)
        if match is None:
            return None
        text = match.group(1).decode("ascii")
        decimals = len(text.split(".")[1])
        unit: Literal["kg", "lb"] = self.unit or ("lb" if decimals == 2 else "kg")
        return WeightFrame(float(text), unit, net=bool(match.group(2)))


# ---------------------------------------------------------------- probing (``devices probe``)
def probe_request() -> bytes:
    """Return the probe's query: ``E`` (echo mode on) and ``hello``, echoed back by an 8217 scale."""
    codec = Toledo8217Codec(Role.HOST)
    return codec.send(ECHO_ON) + codec.send(EchoText(b"hello"))


def probe_after() -> bytes:
    """Return what the probe sends after its query: ``F`` (echo mode off)."""
    return Toledo8217Codec(Role.HOST).send(ECHO_OFF)


def identify(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` is the 8217 echo of ``Ehello`` (parity bit masked)."""
    masked = bytes(b & 0x7F for b in data)
    return {"echo": "ok"} if PROBE_REPLY in masked else None
