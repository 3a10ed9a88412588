"""Sans-IO Modbus RTU codec for the functions an IO module needs: FC01, FC02, FC05.

Frame = address, function, data, CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF, low byte
first). Frames are found by length and CRC, never by silence, so one codec works on any
transport (pty, TCP, USB). A bad CRC drops one byte and resynchronises.

Timed pulse ("flash on", the Waveshare Modbus RTU Relay protocol V2 extension of FC05): coil
address ``0x0200 + coil``, value = on-time in 100 ms units (1-0x7FFF); the board switches the
relay ON, and OFF again by itself when the time is up, so a pulse ends even if the host dies.
``01 05 02 00 00 07 8D B0`` = coil 0 ON for 700 ms; the reply is the echo.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import Enum

READ_COILS = 0x01
READ_DISCRETE_INPUTS = 0x02
WRITE_SINGLE_COIL = 0x05
ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03
_MAX_BITS = 2000
FLASH_ON_BASE = 0x0200  # FC05 address 0x02NN: coil NN on for value x 100 ms, then off (Waveshare V2)
FLASH_UNIT_S = 0.1
FLASH_MAX_UNITS = 0x7FFF


def crc16(data: bytes) -> int:
    """Return the CRC-16/MODBUS of ``data``."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body: bytes) -> bytes:
    """Append the CRC (low byte first)."""
    return body + struct.pack("<H", crc16(body))


def crc_ok(frame: bytes) -> bool:
    """Return whether the frame's last two bytes are its CRC."""
    return len(frame) >= 4 and struct.unpack("<H", frame[-2:])[0] == crc16(frame[:-2])


class Role(Enum):
    """Which side of the line the codec plays."""

    HOST = "host"
    DEVICE = "device"


@dataclass(frozen=True)
class WriteCoil:
    """Request (FC05) and its echo reply."""

    unit: int
    address: int
    on: bool


@dataclass(frozen=True)
class FlashCoil:
    """Request (FC05 at ``0x0200 + coil``) and its echo: coil ON for ``units`` x 100 ms, then OFF."""

    unit: int
    coil: int
    units: int

    @property
    def seconds(self) -> float:
        """Return the on-time in seconds."""
        return self.units * FLASH_UNIT_S


def flash_units(seconds: float) -> int:
    """Return the flash on-time for ``seconds`` in 100 ms units (rounded up, 1-0x7FFF)."""
    return max(1, min(FLASH_MAX_UNITS, math.ceil(round(seconds / FLASH_UNIT_S, 6))))


@dataclass(frozen=True)
class ReadBits:
    """Request (FC01 coils or FC02 discrete inputs)."""

    unit: int
    function: int
    address: int
    count: int


@dataclass(frozen=True)
class BitsReply:
    """Reply to FC01/FC02 with the bits asked for."""

    unit: int
    function: int
    bits: tuple[bool, ...]


@dataclass(frozen=True)
class ExceptionReply:
    """Error reply: function | 0x80 and an exception code."""

    unit: int
    function: int
    code: int


@dataclass(frozen=True)
class Garbage:
    """Bytes skipped while resynchronising."""

    data: bytes


ModbusEvent = WriteCoil | FlashCoil | ReadBits | BitsReply | ExceptionReply | Garbage
ModbusMessage = WriteCoil | FlashCoil | ReadBits | BitsReply | ExceptionReply


def _pack_bits(bits: tuple[bool, ...]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def encode(msg: ModbusMessage) -> bytes:
    """Encode a request or reply into an RTU frame."""
    if isinstance(msg, FlashCoil):
        if not 0 <= msg.coil <= 0xFF or not 1 <= msg.units <= FLASH_MAX_UNITS:
            raise ValueError("flash: coil 0-255, units 1-0x7FFF")
        return with_crc(struct.pack(">BBHH", msg.unit, WRITE_SINGLE_COIL, FLASH_ON_BASE + msg.coil, msg.units))
    if isinstance(msg, WriteCoil):
        if msg.address >> 8 == FLASH_ON_BASE >> 8:
            raise ValueError("coil addresses 0x0200-0x02FF are the flash command (FlashCoil)")
        return with_crc(struct.pack(">BBHH", msg.unit, WRITE_SINGLE_COIL, msg.address, 0xFF00 if msg.on else 0))
    if isinstance(msg, ReadBits):
        if not 1 <= msg.count <= _MAX_BITS:
            raise ValueError("count must be 1-2000")
        return with_crc(struct.pack(">BBHH", msg.unit, msg.function, msg.address, msg.count))
    if isinstance(msg, BitsReply):
        data = _pack_bits(msg.bits)
        return with_crc(struct.pack(">BBB", msg.unit, msg.function, len(data)) + data)
    return with_crc(struct.pack(">BBB", msg.unit, msg.function | 0x80, msg.code))


class ModbusCodec:
    """Bytes in, events out, for either role.

    The host must say what it asked (``expect``) so replies of FC01/02 can be cut to the right
    number of bits; the device side parses the fixed 8-byte requests.
    """

    def __init__(self, role: Role) -> None:
        """Create a codec for ``role``."""
        self.role = role
        self._buf = bytearray()
        self._expected_count = 8

    def send(self, msg: ModbusMessage) -> bytes:
        """Encode ``msg``; a host remembers a read's bit count for its reply."""
        if isinstance(msg, ReadBits):
            self._expected_count = msg.count
        return encode(msg)

    def receive_data(self, data: bytes) -> list[ModbusEvent]:
        """Buffer ``data`` and return every complete frame as an event."""
        self._buf += data
        events: list[ModbusEvent] = []
        junk = bytearray()
        while self._buf:
            length = self._frame_length()
            if length is None:
                break  # need more bytes
            if length == 0 or not crc_ok(bytes(self._buf[:length])):
                junk.append(self._buf.pop(0))
                continue
            frame = bytes(self._buf[:length])
            del self._buf[:length]
            if junk:
                events.append(Garbage(bytes(junk)))
                junk.clear()
            events.append(self._decode(frame))
        if junk:
            events.append(Garbage(bytes(junk)))
        if len(self._buf) > 256:  # never buffer without bound
            events.append(Garbage(bytes(self._buf)))
            self._buf.clear()
        return events

    def _frame_length(self) -> int | None:
        """Return the length of the frame at the buffer start, 0 if impossible, None if unknown yet."""
        buf = self._buf
        if len(buf) < 2:
            return None
        function = buf[1]
        if self.role is Role.DEVICE:
            return 8 if len(buf) >= 8 else None
        if function & 0x80:
            return 5 if len(buf) >= 5 else None
        if function == WRITE_SINGLE_COIL:
            return 8 if len(buf) >= 8 else None
        if function in (READ_COILS, READ_DISCRETE_INPUTS):
            if len(buf) < 3:
                return None
            n = 5 + buf[2]
            return n if len(buf) >= n else None
        return 0

    def _decode(self, frame: bytes) -> ModbusEvent:
        unit, function = frame[0], frame[1]
        if self.role is Role.DEVICE:
            _, _, address, value = struct.unpack(">BBHH", frame[:6])
            if function == WRITE_SINGLE_COIL:
                if address >> 8 == FLASH_ON_BASE >> 8:
                    if not 1 <= value <= FLASH_MAX_UNITS:
                        return ExceptionReply(unit, function, ILLEGAL_VALUE)
                    return FlashCoil(unit, address & 0xFF, value)
                if value not in (0xFF00, 0x0000):
                    return ExceptionReply(unit, function, ILLEGAL_VALUE)
                return WriteCoil(unit, address, value == 0xFF00)
            if function in (READ_COILS, READ_DISCRETE_INPUTS):
                return ReadBits(unit, function, address, value)
            return ExceptionReply(unit, function, ILLEGAL_FUNCTION)
        if function & 0x80:
            return ExceptionReply(unit, function & 0x7F, frame[2])
        if function == WRITE_SINGLE_COIL:
            _, _, address, value = struct.unpack(">BBHH", frame[:6])
            if address >> 8 == FLASH_ON_BASE >> 8:
                return FlashCoil(unit, address & 0xFF, value)
            return WriteCoil(unit, address, value == 0xFF00)
        data = frame[3:-2]
        bits = tuple(bool(data[i // 8] >> (i % 8) & 1) for i in range(min(self._expected_count, len(data) * 8)))
        return BitsReply(unit, function, bits)


# ---------------------------------------------------------------- probing (``devices probe``)
PROBE_QUERY = ReadBits(1, READ_DISCRETE_INPUTS, 0, 8)  # FC02 "read discrete inputs" of unit 1: never a write


def probe_request() -> bytes:
    """Return the probe's query: FC02 read discrete inputs 0-7 of unit 1."""
    return ModbusCodec(Role.HOST).send(PROBE_QUERY)


def identify(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` holds a Modbus reply from unit 1."""
    codec = ModbusCodec(Role.HOST)
    codec.send(PROBE_QUERY)
    for event in codec.receive_data(data):
        if isinstance(event, BitsReply) and event.unit == 1:
            return {"unit": "1", "inputs": "".join("1" if b else "0" for b in event.bits)}
        if isinstance(event, ExceptionReply) and event.unit == 1:
            return {"unit": "1", "exception": str(event.code)}
    return None
