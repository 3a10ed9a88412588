"""Sans-IO codec of Wiegand-to-serial converters, Wiegand frames and keypad PIN entry.

Wiegand-26 (H10301): ``P FFFFFFFF CCCCCCCCCCCCCCCC P`` - bit 1 even parity over bits 1-13,
bits 2-9 facility (0-255), bits 10-25 card (0-65535), bit 26 odd parity over bits 14-26.
Wiegand-34: bit 1 even parity over bits 1-17, 16-bit facility, 16-bit card, bit 34 odd parity
over bits 18-34. Keypads send a 4-bit frame per key (0-9, ``*`` = 0xA, ``#`` = 0xB) or an 8-bit
"nibble + complement" frame (``1`` = ``11100001``).

Converters print one line per frame; the text format is vendor-specific, so it is configured:

- ``hex-frame``: the whole frame, parity included, as hex (26 bits → 7 digits, 34 → 9, key
  frames 1 or 2 digits); parity is checked;
- ``hex-data``: Priority1 WIE232-A style, the data bits only (26-bit → 6 hex digits ``650FFF``,
  34-bit → 8); parity was checked by the converter;
- ``decimal``: the data bits as 10 decimal digits (S4A style), 24 or 32 data bits by value;
- ``bits``: the frame as ``0``/``1`` characters; parity is checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Literal

TextFormat = Literal["hex-frame", "hex-data", "decimal", "bits"]
KEY_CODES = {**{str(d): d for d in range(10)}, "*": 0xA, "#": 0xB}
KEY_NAMES = {code: name for name, code in KEY_CODES.items()}
MAX_LINE = 64
_HEX = re.compile(r"[0-9A-Fa-f]+")
_BITS = re.compile(r"[01]+")
_DIGITS = re.compile(r"[0-9]+")


class Role(Enum):
    """Which side of the line the codec plays."""

    HOST = "host"
    DEVICE = "device"


@dataclass(frozen=True)
class CardRead:
    """A card frame with good parity: ``bits`` long, ``facility`` and ``card`` number."""

    bits: int
    facility: int
    card: int

    @property
    def data(self) -> int:
        """Return the data bits without parity (facility then card)."""
        return (self.facility << 16) | self.card


@dataclass(frozen=True)
class KeyPressed:
    """One key from a Wiegand keypad: ``0``-``9``, ``*`` or ``#``."""

    key: str


@dataclass(frozen=True)
class ParityError:
    """A frame whose parity bits do not match: a bad read, noise or a wrong format."""

    bits: int
    frame: int


@dataclass(frozen=True)
class Garbage:
    """A line that is not a frame in the configured format."""

    data: bytes
    reason: str


WiegandEvent = CardRead | KeyPressed | ParityError | Garbage


def _parity(value: int) -> int:
    return value.bit_count() & 1


def encode_frame(bits: int, facility: int, card: int, *, corrupt_parity: bool = False) -> int:
    """Return a 26- or 34-bit frame with parity (``corrupt_parity`` flips the trailing bit)."""
    if bits == 26:
        if not (0 <= facility <= 0xFF and 0 <= card <= 0xFFFF):
            raise ValueError("W26 needs facility 0-255 and card 0-65535")
        data, half = (facility << 16) | card, 12
    elif bits == 34:
        if not (0 <= facility <= 0xFFFF and 0 <= card <= 0xFFFF):
            raise ValueError("W34 needs facility 0-65535 and card 0-65535")
        data, half = (facility << 16) | card, 16
    else:
        raise ValueError("only 26- and 34-bit frames")
    data_bits = bits - 2
    high = data >> (data_bits - half)
    low = data & ((1 << (data_bits - half)) - 1)
    even = _parity(high)
    odd = 1 - _parity(low)
    if corrupt_parity:
        odd ^= 1
    return (even << (bits - 1)) | (data << 1) | odd


def decode_frame(bits: int, frame: int) -> CardRead | ParityError:
    """Check the parity of a 26- or 34-bit frame and split facility and card."""
    data_bits = bits - 2
    data = (frame >> 1) & ((1 << data_bits) - 1)
    half = data_bits // 2
    high = data >> (data_bits - half)
    low = data & ((1 << (data_bits - half)) - 1)
    even_ok = (_parity(high) ^ (frame >> (bits - 1) & 1)) == 0
    odd_ok = (_parity(low) ^ (frame & 1)) == 1
    if not (even_ok and odd_ok):
        return ParityError(bits, frame)
    return CardRead(bits, data >> 16, data & 0xFFFF)


def encode_key(key: str, bits: Literal[4, 8] = 4) -> int:
    """Return the 4-bit or 8-bit (nibble + complement) keypad frame for ``key``."""
    code = KEY_CODES[key]
    return code if bits == 4 else ((~code & 0xF) << 4) | code


def decode_key(bits: int, frame: int) -> KeyPressed | ParityError | None:
    """Decode a 4-bit or 8-bit key frame (the complement nibble is checked)."""
    code = frame & 0xF
    if bits == 8 and (frame >> 4) != (~code & 0xF):
        return ParityError(8, frame)
    name = KEY_NAMES.get(code)
    return KeyPressed(name) if name is not None else None


def _frame_event(bits: int, value: int) -> WiegandEvent | None:
    if bits in (26, 34):
        return decode_frame(bits, value)
    if bits in (4, 8):
        return decode_key(bits, value)
    return None


@dataclass(frozen=True)
class ConverterFormat:
    """How a converter prints frames: format and line end."""

    text: TextFormat = "hex-frame"
    terminator: bytes = b"\r\n"


class WiegandCodec:
    """Converter lines in, card/key events out (host); events in, converter lines out (device)."""

    def __init__(self, role: Role, fmt: ConverterFormat | None = None) -> None:
        """Create a codec for ``role`` and converter format ``fmt``."""
        self.role = role
        self.fmt = fmt or ConverterFormat()
        self._buf = bytearray()
        self._overflow = False

    def reset(self) -> None:
        """Drop a partial line."""
        self._buf.clear()
        self._overflow = False

    # ------------------------------------------------------------------ encoding (device side)
    def send(self, event: CardRead | KeyPressed | ParityError, *, key_bits: Literal[4, 8] = 4) -> bytes:
        """Encode what the converter prints for ``event`` (a ``ParityError`` sends its raw frame)."""
        text = self.fmt.text
        bits: int
        value: int
        if isinstance(event, KeyPressed):
            bits, value = key_bits, encode_key(event.key, key_bits)
        elif isinstance(event, ParityError):
            bits, value = event.bits, event.frame
        else:
            bits, value = event.bits, encode_frame(event.bits, event.facility, event.card)
        if text == "bits":
            line = format(value, f"0{bits}b")
        elif text == "hex-frame":
            line = format(value, f"0{(bits + 3) // 4}X")
        else:
            data_bits = bits - 2 if bits in (26, 34) else bits
            data = (value >> 1) & ((1 << data_bits) - 1) if bits in (26, 34) else value
            line = format(data, f"0{(data_bits + 3) // 4}X") if text == "hex-data" else f"{data:010d}"
        return line.encode("ascii") + self.fmt.terminator

    # ------------------------------------------------------------------ decoding
    def receive_data(self, data: bytes) -> list[WiegandEvent]:
        """Buffer ``data``; return an event per complete line (host); converters take no input."""
        if self.role is Role.DEVICE:
            return [Garbage(data, "converters take no input")] if data else []
        events: list[WiegandEvent] = []
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self._overflow:
                    events.append(Garbage(bytes(self._buf), "line too long"))
                elif self._buf:
                    events.append(self._line(bytes(self._buf)))
                self._buf.clear()
                self._overflow = False
                continue
            if len(self._buf) >= MAX_LINE:
                self._overflow = True
                continue
            self._buf.append(byte)
        return events

    def _line(self, raw: bytes) -> WiegandEvent:
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return Garbage(raw, "not ASCII (wrong baud rate?)")
        event: WiegandEvent | None = None
        fmt = self.fmt.text
        if fmt == "bits" and _BITS.fullmatch(text):
            event = _frame_event(len(text), int(text, 2))
        elif fmt == "hex-frame" and _HEX.fullmatch(text):
            bits = {1: 4, 2: 8, 7: 26, 9: 34}.get(len(text), 0)
            event = _frame_event(bits, int(text, 16))
        elif fmt == "hex-data" and _HEX.fullmatch(text):
            event = self._data_event({1: 4, 2: 8, 6: 24, 8: 32}.get(len(text), 0), int(text, 16))
        elif fmt == "decimal" and _DIGITS.fullmatch(text) and len(text) <= 10:
            value = int(text)
            event = self._data_event(24 if value < 1 << 24 else 32, value) if value < 1 << 32 else None
        return event if event is not None else Garbage(raw, f"not a {fmt} Wiegand line")

    @staticmethod
    def _data_event(data_bits: int, value: int) -> WiegandEvent | None:
        if data_bits in (4, 8):
            return decode_key(data_bits, value)
        if data_bits == 24:
            return CardRead(26, value >> 16, value & 0xFFFF)
        if data_bits == 32:
            return CardRead(34, value >> 16, value & 0xFFFF)
        return None


@dataclass(frozen=True)
class PinEntered:
    """A PIN confirmed with ``#``."""

    pin: str


@dataclass(frozen=True)
class PinAbandoned:
    """A partial PIN dropped: ``*`` pressed, too long, or no key for ``timeout_s``."""

    reason: Literal["cleared", "too_long", "timeout"]
    digits: int


PinEvent = PinEntered | PinAbandoned


class PinEntry:
    """Assemble keypad keys into a PIN: digits, ``#`` to enter, ``*`` to clear (pure; caller's clock)."""

    def __init__(self, *, max_digits: int = 8, min_digits: int = 4, timeout_s: float = 10.0) -> None:
        """Create an empty entry."""
        self.max_digits = max_digits
        self.min_digits = min_digits
        self.timeout_s = timeout_s
        self._digits: list[str] = []
        self._last = 0.0

    @property
    def pending(self) -> int:
        """Return how many digits are typed so far."""
        return len(self._digits)

    def expire(self, now: float) -> list[PinEvent]:
        """Drop a partial PIN when no key came for ``timeout_s``."""
        if self._digits and now - self._last >= self.timeout_s:
            count = len(self._digits)
            self._digits.clear()
            return [PinAbandoned("timeout", count)]
        return []

    def key(self, key: str, now: float) -> list[PinEvent]:
        """Feed one key pressed at ``now``."""
        events = self.expire(now)
        self._last = now
        if key == "*":
            count = len(self._digits)
            self._digits.clear()
            return [*events, PinAbandoned("cleared", count)] if count else events
        if key == "#":
            pin = "".join(self._digits)
            self._digits.clear()
            if len(pin) < self.min_digits:
                return [*events, PinAbandoned("cleared", len(pin))] if pin else events
            return [*events, PinEntered(pin)]
        if key.isdigit():
            if len(self._digits) >= self.max_digits:
                count = len(self._digits) + 1
                self._digits.clear()
                return [*events, PinAbandoned("too_long", count)]
            self._digits.append(key)
        return events


# ---------------------------------------------------------------- probing (``devices probe``)
def identify(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` holds Wiegand converter lines with good parity."""
    good = [e for e in WiegandCodec(Role.HOST).receive_data(data) if isinstance(e, (CardRead, KeyPressed))]
    if not good:
        return None
    return {"format": "hex-frame", "last": str(good[-1])}
