"""Simulated serial scanner: tests and the demo make it 'scan' codes."""

from __future__ import annotations

import threading

from devices.scanner.profiles import GENERIC_CRLF, ScannerProfile
from devices.scanner.protocol import CodeScanned, Role, ScannerCodec


class ScannerSimulator:
    """A scanner that sends queued scans; it ignores what the host writes."""

    name = "scanner"

    def __init__(self, profile: ScannerProfile = GENERIC_CRLF) -> None:
        """Create a scanner for ``profile``."""
        self.codec = ScannerCodec(Role.DEVICE, profile)
        self._out = bytearray()
        self._lock = threading.Lock()

    def scan(self, text: str, symbology: str | None = None) -> None:
        """Queue one scan to send."""
        with self._lock:
            self._out += self.codec.send(CodeScanned(text, symbology))

    def inject(self, data: bytes) -> None:
        """Queue raw bytes (garbage, wrong-baud noise)."""
        with self._lock:
            self._out += data

    def receive_data(self, data: bytes) -> bytes:
        """Ignore host bytes (serial scanners are configured by scanning setup codes)."""
        return b""

    def poll(self, now: float) -> bytes:
        """Send queued scans."""
        with self._lock:
            out, self._out = bytes(self._out), bytearray()
        return out


def demo(sim: ScannerSimulator, step: int) -> None:
    """Play step ``step`` of the ``smartstore sim`` demo: an EAN, another EAN, a member code."""
    sim.scan(("4006381333931", "5449000000996", "SMARTSTORE-MEMBER-42")[step % 3])
