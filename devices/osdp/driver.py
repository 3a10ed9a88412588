"""OSDP control-panel driver: libosdp (secure channel included) over a reconnecting ``SerialLink``.

libosdp runs the OSDP state machine; this driver gives it a channel made of the link's
non-blocking reads and writes, refreshes it every few milliseconds on the driver thread and
turns its events into typed card reads and PINs. A new libosdp context is built after every
(re)connect, so a replugged reader goes through the secure-channel handshake again.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import osdp  # type: ignore[import-untyped, unused-ignore]

from devices.driver import DriverThread, StatusCallback
from devices.errors import DeviceDisconnected
from devices.osdp.profiles import OSDP_9600, OsdpProfile
from devices.transport import SerialLink
from devices.wiegand.protocol import (
    CardRead,
    ParityError,
    PinEntered,
    PinEntry,
    decode_frame,
)

log = logging.getLogger(__name__)

_REFRESH_S = 0.005


@dataclass(frozen=True)
class OsdpCard:
    """A card read that is not a 26/34-bit Wiegand frame (raw bits as the reader sent them)."""

    format: int
    bit_count: int
    data: bytes


@dataclass(frozen=True)
class PdStatus:
    """Whether the reader answers and whether the secure channel is up."""

    online: bool
    secure: bool


class _LinkChannel(osdp.Channel):  # type: ignore[misc, unused-ignore]
    """A libosdp channel over a ``SerialLink``; a lost port is remembered, not raised into C."""

    def __init__(self, link: SerialLink) -> None:
        super().__init__()
        self.link = link
        self.failed: DeviceDisconnected | None = None
        self.bytes_in = 0
        self.bytes_out = 0

    def read(self, max_bytes: int) -> bytes:
        if self.failed is not None:
            return b""
        try:
            data = self.link.read_nowait(max_bytes)
        except DeviceDisconnected as err:
            self.failed = err
            return b""
        self.bytes_in += len(data)
        return data

    def write(self, buf: bytes) -> int:
        if self.failed is not None:
            return 0
        try:
            self.link.write(bytes(buf))
        except DeviceDisconnected as err:
            self.failed = err
            return 0
        self.bytes_out += len(buf)
        return len(buf)

    def flush(self) -> None:
        """Writes are flushed by ``SerialLink.write``."""


class OsdpDriver(DriverThread):
    """Run an OSDP control panel for one reader; cards reach ``on_card``, PINs ``on_pin``."""

    def __init__(
        self,
        url: str,
        *,
        profile: OsdpProfile = OSDP_9600,
        name: str = "osdp",
        on_card: Callable[[CardRead | OsdpCard], None] | None = None,
        on_pin: Callable[[str], None] | None = None,
        on_keys: Callable[[str], None] | None = None,
        on_pd_status: Callable[[PdStatus], None] | None = None,
        on_error: Callable[[ParityError], None] | None = None,
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the driver for the reader at ``url``."""
        super().__init__(url, name=name, settings=profile.serial, on_status=on_status, max_backoff=max_backoff)
        self.profile = profile
        self.on_card = on_card or (lambda card: None)
        self.on_pin = on_pin or (lambda pin: None)
        self.on_keys = on_keys or (lambda keys: None)
        self.on_pd_status = on_pd_status or (lambda status: None)
        self.on_error = on_error or (lambda error: None)
        self.pin = PinEntry()
        self.pd_status = PdStatus(online=False, secure=False)
        self._cp: Any = None
        self._channel: _LinkChannel | None = None
        self._commands: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.bytes_in = 0
        self.bytes_out = 0

    # ------------------------------------------------------------------ agent-facing API
    def output(self, number: int, on: bool, timer_100ms: int = 0) -> None:
        """Switch a reader output (e.g. its relay): permanent, or on for ``timer_100ms`` × 100 ms."""
        control = (5 if on else 6) if timer_100ms else (2 if on else 1)
        self._commands.put(
            {"command": osdp.Command.Output, "output_no": number, "control_code": control, "timer_count": timer_100ms}
        )

    def led(self, color: str = "green", seconds: float = 1.0) -> None:
        """Light the reader LED in ``color`` for ``seconds``."""
        colors = osdp.CommandLEDColor
        on_color = {"red": colors.Red, "green": colors.Green, "amber": colors.Amber, "blue": colors.Blue}.get(
            color, colors.Green
        )
        self._commands.put(
            {
                "command": osdp.Command.LED,
                "reader": 0,
                "led_number": 0,
                "control_code": 1,
                "on_count": 10,
                "off_count": 0,
                "on_color": on_color,
                "off_color": colors.Black,
                "timer_count": max(1, int(seconds * 10)),
                "temporary": True,
            }
        )

    def beep(self, count: int = 1) -> None:
        """Beep ``count`` times."""
        self._commands.put(
            {
                "command": osdp.Command.Buzzer,
                "reader": 0,
                "control_code": 2,
                "on_count": 2,
                "off_count": 2,
                "rep_count": count,
            }
        )

    # ------------------------------------------------------------------ driver thread
    def on_connected(self) -> None:
        """Build a fresh libosdp control panel on the newly opened port."""
        self._close_cp()
        self._channel = _LinkChannel(self.link)
        flags = []
        if self.profile.scbk is not None:
            flags.append(osdp.LibFlag.EnforceSecure)
        if self.profile.install_mode:
            flags.append(osdp.LibFlag.InstallMode)
        info = osdp.PDInfo(self.profile.address, self._channel, scbk=self.profile.scbk, flags=flags, name=self.name)
        self._cp = osdp.ControlPanel([info], log_level=osdp.LogLevel.Emergency)
        self.pin = PinEntry()
        self._set_pd_status(PdStatus(False, False))

    def _close_cp(self) -> None:
        self._cp = None  # libosdp frees the context with the object

    def service(self) -> None:
        """Refresh libosdp, deliver its events and submit queued commands."""
        cp, channel = self._cp, self._channel
        assert cp is not None
        assert channel is not None
        cp.ctx.refresh()
        self.bytes_in, self.bytes_out = channel.bytes_in, channel.bytes_out
        if channel.failed is not None:
            self._set_pd_status(PdStatus(False, False))
            raise channel.failed
        mask = cp.ctx.status()
        secure = cp.ctx.sc_status()
        self._set_pd_status(PdStatus(bool(mask & 1), bool(secure & 1)))
        while True:
            event = cp.get_event(self.profile.address, timeout=-1)
            if event is None:
                break
            self._event(event)
        for event in self.pin.expire(time.monotonic()):
            log.debug("%s: %s", self.name, event)
        if self.pd_status.online:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                pass
            else:
                if not cp.ctx.submit_command(0, command):
                    log.warning("%s: reader refused command %s", self.name, command)
        self.link.pause(_REFRESH_S)

    def _set_pd_status(self, status: PdStatus) -> None:
        if status != self.pd_status:
            self.pd_status = status
            try:
                self.on_pd_status(status)
            except Exception:
                log.exception("%s: status callback failed", self.name)

    def _event(self, event: dict[str, Any]) -> None:
        try:
            kind = event.get("event")
            if kind == osdp.Event.CardRead:
                self._card(event)
            elif kind == osdp.Event.KeyPress:
                keys = bytes(event.get("data", b"")).decode("ascii", "replace")
                self.on_keys(keys)
                now = time.monotonic()
                for key in keys:
                    for pin_event in self.pin.key(key, now):
                        if isinstance(pin_event, PinEntered):
                            self.on_pin(pin_event.pin)
        except Exception:
            log.exception("%s: event callback failed", self.name)

    def _card(self, event: dict[str, Any]) -> None:
        data = bytes(event.get("data", b""))
        length = int(event.get("length", len(data) * 8))
        if event.get("format") == osdp.CardFormat.Wiegand and length in (26, 34) and len(data) * 8 >= length:
            bits = int.from_bytes(data, "big") >> (len(data) * 8 - length)
            decoded = decode_frame(length, bits)
            if isinstance(decoded, ParityError):
                self.on_error(decoded)
            else:
                self.on_card(decoded)
            return
        self.on_card(OsdpCard(int(event.get("format", 0)), length, data))

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and drop the libosdp context."""
        super().stop(timeout)
        self._close_cp()
