"""Serial scanner driver: delivers each scanned code, debouncing immediate repeats."""

from __future__ import annotations

import time
from collections.abc import Callable

from devices.driver import DriverThread, StatusCallback
from devices.scanner.profiles import GENERIC_CRLF, ScannerProfile
from devices.scanner.protocol import CodeScanned, Garbage, Role, ScannerCodec


class ScannerDriver(DriverThread):
    """Read scans; ``on_scan`` gets each code, ``on_garbage`` each rejected line."""

    def __init__(
        self,
        url: str,
        *,
        profile: ScannerProfile = GENERIC_CRLF,
        name: str = "scanner",
        debounce_s: float = 1.0,
        on_scan: Callable[[CodeScanned], None] | None = None,
        on_garbage: Callable[[Garbage], None] | None = None,
        on_status: StatusCallback | None = None,
    ) -> None:
        """Prepare the driver for ``url``."""
        super().__init__(url, name=name, settings=profile.serial, on_status=on_status)
        self.codec = ScannerCodec(Role.HOST, profile)
        self.debounce_s = debounce_s
        self.on_scan = on_scan or (lambda scan: None)
        self.on_garbage = on_garbage or (lambda garbage: None)
        self._last: tuple[str, float] | None = None

    def service(self) -> None:
        """Read what arrived and deliver complete scans."""
        for event in self.codec.receive_data(self.link.read()):
            if isinstance(event, Garbage):
                self.on_garbage(event)
                continue
            now = time.monotonic()
            if self._last and self._last[0] == event.text and now - self._last[1] < self.debounce_s:
                continue
            self._last = (event.text, now)
            self.on_scan(event)
