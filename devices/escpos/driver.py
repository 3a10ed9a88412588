"""Pole display driver: keeps the wanted screen and redraws it after every (re)connect."""

from __future__ import annotations

import threading
import time

from devices.driver import DriverThread, StatusCallback
from devices.escpos.profiles import EPSON_DM_D, EscposProfile
from devices.escpos.protocol import EscposCodec, Role, setup, show_lines, total_screen
from devices.screen import BasketView, basket_lines, format_money


class EscposDriver(DriverThread):
    """Show text on a 2×20 pole display.

    Only the latest screen matters: ``show_lines`` replaces what is waiting to be written, so a
    burst of basket updates costs one write. A display never answers, so "online" means only
    that the port is open; the driver reads the (silent) port when idle to notice an unplug.
    """

    def __init__(
        self,
        url: str,
        *,
        profile: EscposProfile = EPSON_DM_D,
        name: str = "pole-display",
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the driver; the screen starts blank."""
        super().__init__(url, name=name, settings=profile.serial, on_status=on_status, max_backoff=max_backoff)
        self.profile = profile
        self.codec = EscposCodec(Role.HOST)
        self._lock = threading.Lock()
        self._wanted: tuple[str, str] = ("", "")
        self._raw: bytes | None = None
        self._dirty = threading.Event()
        self.writes = 0
        self.last_write_at = 0.0

    # ------------------------------------------------------------------ agent-facing API
    def show_lines(self, line1: str, line2: str = "") -> None:
        """Show two lines (truncated to the display width)."""
        with self._lock:
            self._wanted = (line1, line2)
            self._raw = None
        self._dirty.set()

    def show_total(self, label: str, amount: str) -> None:
        """Show ``label`` on line 1 and ``amount`` right-aligned on line 2."""
        raw = self.codec.send(total_screen(label, amount, columns=self.profile.columns, encoding=self.profile.encoding))
        pad = self.profile.columns - len(amount)
        with self._lock:
            self._wanted = (label, " " * max(pad, 0) + amount)
            self._raw = raw if self.profile.dialect == "epson" else None
        self._dirty.set()

    def show_basket(self, view: BasketView) -> None:
        """Show the last item with its price and the item count with the total."""
        self.show_lines(*basket_lines(view, self.profile.columns))

    def show_amount_due(self, amount: str, currency: str = "") -> None:
        """Show the amount to pay."""
        self.show_total("TOTAL", format_money(amount, currency))

    def clear(self) -> None:
        """Blank the display."""
        self.show_lines("", "")

    @property
    def wanted(self) -> tuple[str, str]:
        """Return the screen the driver is showing (or about to show)."""
        return self._wanted

    # ------------------------------------------------------------------ driver thread
    def on_connected(self) -> None:
        """Initialise the display and redraw the wanted screen."""
        self.link.write(self.codec.send(setup(dialect=self.profile.dialect, select_device=self.profile.select_device)))
        self._dirty.set()

    def service(self) -> None:
        """Write the wanted screen when it changed; otherwise check the port is still there."""
        if not self._dirty.wait(0.1):
            self.link.read_nowait()
            return
        self._dirty.clear()
        with self._lock:
            line1, line2 = self._wanted
            raw = self._raw
        if raw is None:
            raw = self.codec.send(
                show_lines(
                    line1,
                    line2,
                    columns=self.profile.columns,
                    dialect=self.profile.dialect,
                    encoding=self.profile.encoding,
                )
            )
        self.link.write(raw)
        self.writes += 1
        self.last_write_at = time.monotonic()
