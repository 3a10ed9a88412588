"""Sans-IO codec of line-based code scanners, for both roles.

A scan is ``prefix [AIM id] text suffix terminator``. The host side accepts CR, LF or CR LF as
the end of a line whatever the profile says (scanners get reconfigured in the field), and also
the profile's own one-byte terminator (TAB, ETX...). It strips the profile's prefix and suffix,
splits off an AIM id (``]Q1`` QR, ``]E0`` EAN-13, ``]C0`` Code 128) when the profile has them,
and reports lines longer than ``max_length`` as garbage instead of buffering them without bound.

The codec takes its framing from any object with ``prefix``, ``suffix``, ``terminator``,
``aim_ids`` and ``max_length`` (a ``ScannerProfile`` in practice), so it imports only the stdlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

AIM_SYMBOLOGIES = {"Q": "qr", "E": "ean", "C": "code128", "A": "code39", "d": "datamatrix", "e": "gs1-databar"}


class Role(Enum):
    """Which side of the line the codec plays."""

    HOST = "host"
    DEVICE = "device"


@dataclass(frozen=True)
class CodeScanned:
    """One decoded code."""

    text: str
    symbology: str | None = None


@dataclass(frozen=True)
class Garbage:
    """A line that is not a scan (too long, not text)."""

    data: bytes
    reason: str


ScannerEvent = CodeScanned | Garbage


class ScannerFraming(Protocol):
    """How a scanner frames its lines (satisfied by ``ScannerProfile``)."""

    @property
    def prefix(self) -> bytes:
        """Return the bytes before each code."""
        ...

    @property
    def suffix(self) -> bytes:
        """Return the bytes after each code, before the terminator."""
        ...

    @property
    def terminator(self) -> bytes:
        """Return the line end the scanner sends."""
        ...

    @property
    def aim_ids(self) -> bool:
        """Return whether codes start with an AIM symbology id."""
        ...

    @property
    def max_length(self) -> int:
        """Return the longest line accepted."""
        ...


@dataclass(frozen=True)
class Framing:
    """Plain framing settings (the default: no prefix or suffix, CR LF, no AIM ids)."""

    prefix: bytes = b""
    suffix: bytes = b""
    terminator: bytes = b"\r\n"
    aim_ids: bool = False
    max_length: int = 2048


DEFAULT_FRAMING = Framing()


class ScannerCodec:
    """Bytes in, scans out (host); scans in, bytes out (device)."""

    def __init__(self, role: Role, profile: ScannerFraming = DEFAULT_FRAMING) -> None:
        """Create a codec for ``role`` and ``profile``."""
        self.role = role
        self.profile = profile
        self._buf = bytearray()
        self._overflow = False
        term = profile.terminator
        self._ends = frozenset((0x0D, 0x0A) + ((term[0],) if len(term) == 1 else ()))

    def reset(self) -> None:
        """Drop a partial line."""
        self._buf.clear()
        self._overflow = False

    def send(self, scan: CodeScanned) -> bytes:
        """Encode a scan as the scanner sends it."""
        aim = b""
        if self.profile.aim_ids:
            code = next((k for k, v in AIM_SYMBOLOGIES.items() if v == scan.symbology), "Q")
            aim = f"]{code}{'1' if code == 'Q' else '0'}".encode()
        return self.profile.prefix + aim + scan.text.encode() + self.profile.suffix + self.profile.terminator

    def receive_data(self, data: bytes) -> list[ScannerEvent]:
        """Buffer ``data``; return a scan for every complete line."""
        events: list[ScannerEvent] = []
        for byte in data:
            if byte in self._ends:
                if self._overflow:
                    events.append(Garbage(bytes(self._buf), "line too long"))
                    self._overflow = False
                elif self._buf:
                    events.append(self._line(bytes(self._buf)))
                self._buf.clear()
                continue
            if len(self._buf) >= self.profile.max_length:
                self._overflow = True
                continue
            self._buf.append(byte)
        return events

    def _line(self, line: bytes) -> ScannerEvent:
        prefix = self.profile.prefix
        if prefix:
            if not line.startswith(prefix):
                return Garbage(line, "missing prefix")
            line = line[len(prefix) :]
        suffix = self.profile.suffix
        if suffix and line.endswith(suffix):
            line = line[: -len(suffix)]
        symbology = None
        if self.profile.aim_ids and len(line) >= 3 and line[:1] == b"]":
            symbology = AIM_SYMBOLOGIES.get(chr(line[1]), "unknown")
            line = line[3:]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return Garbage(line, "not UTF-8 text")
        if not text.isprintable():
            return Garbage(line, "control characters in line")
        return CodeScanned(text, symbology)


# ---------------------------------------------------------------- probing (``devices probe``)
def identify(data: bytes) -> dict[str, str] | None:
    """Return probe details if ``data`` holds printable scan lines."""
    scans = [e for e in ScannerCodec(Role.HOST).receive_data(data) if isinstance(e, CodeScanned)]
    return {"last_code": scans[-1].text} if scans else None
