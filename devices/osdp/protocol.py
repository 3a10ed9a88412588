"""Sans-IO OSDP packet codec (framing, CRC, checksum) for both roles; no secure-channel crypto.

Packet: ``SOM 53``, ``ADDR`` (0x00-0x7E, 0x7F broadcast; replies set bit 7), ``LEN`` LSB/MSB
(whole packet), ``CTRL`` (bits 0-1 SQN, bit 2 CRC-16 instead of checksum, bit 3 security block
present), optional security block, command/reply code, data, optional 4-byte MAC, then
CRC-16/AUG-CCITT (poly 0x1021, init 0x1D0F, LSB first) or an 8-bit checksum. An optional
``FF`` mark byte may precede ``SOM``.

The secure channel (AES-128 session keys, MACs, encrypted payloads) is libosdp's job; this
codec frames packets so the probe can send ``osdp_POLL``, traces can be decoded and fuzz
tests can prove the framing never crashes. A bad CRC or length costs one byte and the parser
resynchronises on the next ``53``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum

SOM = 0x53
MARK = 0xFF
BROADCAST = 0x7F
REPLY_BIT = 0x80
MIN_PACKET = 7  # SOM ADDR LEN LEN CTRL CODE CKSUM
MAX_PACKET = 1440  # libosdp's default packet buffer

COMMANDS = {
    0x60: "POLL",
    0x61: "ID",
    0x62: "CAP",
    0x64: "LSTAT",
    0x65: "ISTAT",
    0x66: "OSTAT",
    0x67: "RSTAT",
    0x68: "OUT",
    0x69: "LED",
    0x6A: "BUZ",
    0x6B: "TEXT",
    0x6E: "COMSET",
    0x73: "BIOREAD",
    0x75: "KEYSET",
    0x76: "CHLNG",
    0x77: "SCRYPT",
    0x7B: "ACURXSIZE",
    0x7C: "FILETRANSFER",
    0x80: "MFG",
    0xA2: "ABORT",
}
REPLIES = {
    0x40: "ACK",
    0x41: "NAK",
    0x45: "PDID",
    0x46: "PDCAP",
    0x48: "LSTATR",
    0x49: "ISTATR",
    0x4A: "OSTATR",
    0x4B: "RSTATR",
    0x50: "RAW",
    0x51: "FMT",
    0x53: "KEYPAD",
    0x54: "COM",
    0x76: "CCRYPT",
    0x78: "RMAC_I",
    0x79: "BUSY",
    0x7A: "FTSTAT",
    0x90: "MFGREP",
}
POLL = 0x60
ACK = 0x40
NAK = 0x41
RAW = 0x50
KEYPAD = 0x53
_MAC_SCB_TYPES = frozenset((0x15, 0x16, 0x17, 0x18))


class Role(Enum):
    """Which side of the line the codec plays (HOST = control panel, DEVICE = peripheral)."""

    HOST = "host"
    DEVICE = "device"


def crc16(data: bytes) -> int:
    """Return the CRC-16/AUG-CCITT of ``data`` as OSDP uses it."""
    crc = 0x1D0F
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def checksum(data: bytes) -> int:
    """Return the 8-bit two's-complement checksum of ``data``."""
    return (-sum(data)) & 0xFF


@dataclass(frozen=True)
class Packet:
    """One OSDP packet (reply when ``reply`` is set; ``address`` without the reply bit)."""

    address: int
    code: int
    data: bytes = b""
    sqn: int = 0
    reply: bool = False
    use_crc: bool = True
    scb: bytes | None = None
    mac: bytes | None = None

    @property
    def name(self) -> str:
        """Return the command or reply name (``POLL``, ``ACK``...)."""
        table = REPLIES if self.reply else COMMANDS
        return table.get(self.code, f"0x{self.code:02X}")


@dataclass(frozen=True)
class RawCard:
    """Data of an ``osdp_RAW`` reply: reader, format (1 = Wiegand), bit count, bits as an int."""

    reader: int
    format: int
    bit_count: int
    bits: int


@dataclass(frozen=True)
class Garbage:
    """Bytes skipped while looking for a valid packet."""

    data: bytes
    reason: str


OsdpEvent = Packet | Garbage


def encode(packet: Packet, *, mark: bool = False) -> bytes:
    """Encode ``packet`` with its length, control byte and CRC or checksum."""
    scb = packet.scb or b""
    mac = packet.mac or b""
    length = 5 + len(scb) + 1 + len(packet.data) + len(mac) + (2 if packet.use_crc else 1)
    ctrl = (packet.sqn & 0x03) | (0x04 if packet.use_crc else 0) | (0x08 if packet.scb else 0)
    address = (packet.address & 0x7F) | (REPLY_BIT if packet.reply else 0)
    body = (
        bytes([SOM, address])
        + struct.pack("<H", length)
        + bytes([ctrl])
        + scb
        + bytes([packet.code])
        + packet.data
        + mac
    )
    tail = struct.pack("<H", crc16(body)) if packet.use_crc else bytes([checksum(body)])
    return (bytes([MARK]) if mark else b"") + body + tail


def poll(address: int = BROADCAST, sqn: int = 0) -> bytes:
    """Return an ``osdp_POLL`` to ``address`` (broadcast 0x7F by default)."""
    return encode(Packet(address, POLL, sqn=sqn))


def parse_raw(data: bytes) -> RawCard | None:
    """Decode the data of an ``osdp_RAW`` reply; None if it is too short."""
    if len(data) < 4:
        return None
    reader, fmt, count = data[0], data[1], struct.unpack("<H", data[2:4])[0]
    payload = data[4:]
    if count > len(payload) * 8:
        return None
    value = int.from_bytes(payload, "big") >> (len(payload) * 8 - count) if payload else 0
    return RawCard(reader, fmt, count, value)


def encode_raw(card: RawCard) -> bytes:
    """Encode the data of an ``osdp_RAW`` reply (bits left-aligned in whole bytes)."""
    nbytes = (card.bit_count + 7) // 8
    payload = (card.bits << (nbytes * 8 - card.bit_count)).to_bytes(nbytes, "big") if nbytes else b""
    return bytes([card.reader, card.format]) + struct.pack("<H", card.bit_count) + payload


class OsdpCodec:
    """Bytes in, packets out; packets in, bytes out.

    The host keeps replies (address bit 7 set) and the device keeps commands; packets going the
    other way on a shared RS-485 bus (our own echo, other PDs' traffic) are ``Garbage``.
    """

    def __init__(self, role: Role) -> None:
        """Create a codec for ``role``."""
        self.role = role
        self._buf = bytearray()

    def reset(self) -> None:
        """Drop a partial packet."""
        self._buf.clear()

    def send(self, packet: Packet) -> bytes:
        """Encode a command (host) or a reply (device)."""
        return encode(packet)

    def receive_data(self, data: bytes) -> list[OsdpEvent]:
        """Buffer ``data``; return every complete packet or skipped run of bytes."""
        self._buf += data
        events: list[OsdpEvent] = []
        junk = bytearray()
        buf = self._buf
        while buf:
            if buf[0] != SOM:
                if buf[0] != MARK:
                    junk.append(buf[0])
                del buf[0]
                continue
            if len(buf) < 5:
                break
            length = struct.unpack("<H", buf[2:4])[0]
            if not MIN_PACKET <= length <= MAX_PACKET:
                junk.append(buf.pop(0))
                continue
            if len(buf) < length:
                break
            packet = self._decode(bytes(buf[:length]))
            if packet is None:
                junk.append(buf.pop(0))
                continue
            if junk:
                events.append(Garbage(bytes(junk), "not an OSDP packet"))
                junk.clear()
            del buf[:length]
            if packet.reply != (self.role is Role.HOST):
                events.append(Garbage(encode(packet), "packet for the other side"))
            else:
                events.append(packet)
        if junk:
            events.append(Garbage(bytes(junk), "not an OSDP packet"))
        return events

    @staticmethod
    def _decode(frame: bytes) -> Packet | None:
        ctrl = frame[4]
        use_crc = bool(ctrl & 0x04)
        tail = 2 if use_crc else 1
        body = frame[:-tail]
        if use_crc:
            if struct.unpack("<H", frame[-2:])[0] != crc16(body):
                return None
        elif frame[-1] != checksum(body):
            return None
        pos = 5
        scb: bytes | None = None
        if ctrl & 0x08:
            if pos >= len(body):
                return None
            scb_len = body[pos]
            if scb_len < 2 or pos + scb_len >= len(body):
                return None
            scb = body[pos : pos + scb_len]
            pos += scb_len
        if pos >= len(body):
            return None
        code = body[pos]
        payload = body[pos + 1 :]
        mac: bytes | None = None
        if scb is not None and scb[1] in _MAC_SCB_TYPES:
            if len(payload) < 4:
                return None
            payload, mac = payload[:-4], payload[-4:]
        address = frame[1]
        return Packet(address & 0x7F, code, payload, ctrl & 0x03, bool(address & REPLY_BIT), use_crc, scb, mac)


# ---------------------------------------------------------------- probing (``devices probe``)
def probe_request() -> bytes:
    """Return the probe's query: ``osdp_POLL`` to the broadcast address."""
    return poll()


def identify(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` holds an OSDP reply to ``POLL``."""
    for event in OsdpCodec(Role.HOST).receive_data(data):
        if isinstance(event, Packet):
            return {"reply_address": str(event.address), "reply": event.name}
    return None
