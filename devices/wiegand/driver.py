"""Wiegand converter driver: card reads, keypad PINs (``#`` to enter) and parity errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from devices.driver import DriverThread, StatusCallback
from devices.wiegand.profiles import HEX_FRAME, WiegandProfile
from devices.wiegand.protocol import (
    CardRead,
    Garbage,
    KeyPressed,
    ParityError,
    PinEntered,
    PinEntry,
    PinEvent,
    Role,
    WiegandCodec,
    WiegandEvent,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class WiegandDriver(DriverThread):
    """Read a converter; ``on_card`` hears good cards, ``on_pin`` full PINs, ``on_error`` the rest."""

    def __init__(
        self,
        url: str,
        *,
        profile: WiegandProfile = HEX_FRAME,
        name: str = "wiegand",
        on_card: Callable[[CardRead], None] | None = None,
        on_pin: Callable[[str], None] | None = None,
        on_key: Callable[[KeyPressed], None] | None = None,
        on_pin_event: Callable[[PinEvent], None] | None = None,
        on_error: Callable[[ParityError | Garbage], None] | None = None,
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the driver for the converter at ``url``."""
        super().__init__(url, name=name, settings=profile.serial, on_status=on_status, max_backoff=max_backoff)
        self.profile = profile
        self.codec = WiegandCodec(Role.HOST, profile.format)
        self.pin = PinEntry(
            max_digits=profile.pin_max_digits, min_digits=profile.pin_min_digits, timeout_s=profile.pin_timeout_s
        )
        self.on_card = on_card or (lambda card: None)
        self.on_pin = on_pin or (lambda pin: None)
        self.on_key = on_key or (lambda key: None)
        self.on_pin_event = on_pin_event or (lambda event: None)
        self.on_error = on_error or (lambda error: None)
        self.errors = 0
        self._last_card: tuple[CardRead, float] | None = None

    def on_connected(self) -> None:
        """Forget partial lines and a half-typed PIN."""
        self.codec.reset()
        self.pin = PinEntry(
            max_digits=self.profile.pin_max_digits,
            min_digits=self.profile.pin_min_digits,
            timeout_s=self.profile.pin_timeout_s,
        )

    def service(self) -> None:
        """Read converter lines and deliver events."""
        events = self.codec.receive_data(self.link.read())
        now = time.monotonic()
        pin_events = self.pin.expire(now)
        for event in events:
            pin_events += self._handle(event, now)
        for pin_event in pin_events:
            self._call(self.on_pin_event, pin_event)
            if isinstance(pin_event, PinEntered):
                self._call(self.on_pin, pin_event.pin)

    def _handle(self, event: WiegandEvent, now: float) -> list[PinEvent]:
        if isinstance(event, CardRead):
            last = self._last_card
            if last is None or last[0] != event or now - last[1] >= self.profile.debounce_s:
                self._call(self.on_card, event)
            self._last_card = (event, now)
            return []
        if isinstance(event, KeyPressed):
            self._call(self.on_key, event)
            return self.pin.key(event.key, now)
        self.errors += 1
        self._call(self.on_error, event)
        return []

    def _call(self, callback: Callable[[T], None], arg: T) -> None:
        try:
            callback(arg)
        except Exception:
            log.exception("%s: callback failed", self.name)
