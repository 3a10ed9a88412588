"""Serial ports by URL, and a link that reopens its port after an unplug.

Ports are named by pyserial URL: a device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``),
``socket://host:port``, ``loop://`` or ``spy://PORT?file=trace.txt`` for a hex trace, or by
``usb:VID:PID[:SERIAL][@LOCATION]`` (``devices.discovery``), resolved again on every (re)open.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, cast

import serial  # type: ignore[import-untyped, unused-ignore]

try:
    from termios import error as _TermiosError
except ImportError:  # not POSIX
    _TermiosError = OSError  # type: ignore[misc,assignment]

from devices.discovery import resolve_url
from devices.errors import DeviceDisconnected, PortBusy

log = logging.getLogger(__name__)

# What pyserial raises when a port vanishes: a USB unplug, a closed pty, a dead socket.
_IO_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, TypeError, _TermiosError)

_OPEN_ERRORS: tuple[type[BaseException], ...] = (*_IO_ERRORS, ValueError)

LinkStatus = Literal["connected", "disconnected", "reconnected"]


class SerialPort(Protocol):
    """What the device layer uses of an open pyserial port (any URL handler)."""

    @property
    def in_waiting(self) -> int:
        """Return the number of bytes waiting to be read."""
        ...

    def read(self, size: int = 1) -> bytes:
        """Read up to ``size`` bytes within the port timeout."""
        ...

    def write(self, data: bytes, /) -> int | None:
        """Write ``data``."""
        ...

    def flush(self) -> None:
        """Wait until written data is sent."""
        ...

    def reset_input_buffer(self) -> None:
        """Drop unread input."""
        ...

    def close(self) -> None:
        """Close the port."""
        ...


@dataclass(frozen=True)
class SerialSettings:
    """Line settings of a serial protocol, as data."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: Literal["N", "E", "O"] = "N"
    stopbits: float = 1
    xonxoff: bool = False

    def describe(self) -> str:
        """Return the usual short form, e.g. ``9600 8N1``."""
        stop = int(self.stopbits) if self.stopbits == int(self.stopbits) else self.stopbits
        return f"{self.baudrate} {self.bytesize}{self.parity}{stop}"


def is_pty(path: str) -> bool:
    """Return whether ``path`` is a pseudo-terminal slave (``/dev/pts/N``, Unix98 majors 136-143)."""
    try:
        return 136 <= os.major(os.stat(path).st_rdev) <= 143
    except (OSError, ValueError):
        return False


def _open(url: str, settings: SerialSettings, timeout: float) -> SerialPort:
    port = serial.serial_for_url(url, do_not_open=True)
    port.baudrate = settings.baudrate
    port.bytesize = settings.bytesize
    port.parity = settings.parity
    port.stopbits = settings.stopbits
    port.xonxoff = settings.xonxoff
    port.timeout = timeout
    port.write_timeout = 1.0
    port.exclusive = True  # one owner per port (flock on device paths; URL handlers ignore it)
    try:
        port.open()
    except serial.SerialException as err:
        if "exclusively lock" in str(err):
            raise PortBusy(f"{url} is held by another process (a running agent?)") from err
        raise
    return cast("SerialPort", port)


def open_port(url: str, settings: SerialSettings, timeout: float = 0.05) -> SerialPort:
    """Open ``url`` with ``settings``.

    A pty carries bytes unchanged and emulates no parity; some kernels even refuse 7E1/8E1 on a
    pty once it was opened at 8N1 (EINVAL). For ptys only, such a refusal falls back to 8N1,
    which carries the same bytes (7-bit protocols mask the parity bit anyway).

    Ports are opened exclusively (``flock``): a second owner gets ``PortBusy``.

    Raises:
        DeviceDisconnected: the port does not exist or cannot be opened.
        PortBusy: another process holds it.
    """
    try:
        path = resolve_url(url)
        try:
            return _open(path, settings, timeout)
        except _OPEN_ERRORS:
            if (settings.bytesize == 8 and settings.parity == "N") or not is_pty(path):
                raise
            log.debug("%s refused %s; a pty: using 8N1", path, settings.describe())
            return _open(path, SerialSettings(settings.baudrate, 8, "N", 1, settings.xonxoff), timeout)
    except _OPEN_ERRORS as err:
        raise DeviceDisconnected(f"cannot open {url}: {err}") from err


class SerialLink:
    """One serial port that is reopened with backoff whenever it vanishes.

    ``read`` and ``write`` raise ``DeviceDisconnected`` when the port goes away; the owner's loop
    then calls ``connect`` again, which blocks (with backoff, 0.1 s doubling to ``max_backoff``)
    until the port is back or ``stop`` is called. ``on_status`` hears ``connected`` on the first
    open, ``disconnected`` once per loss, and ``reconnected`` when it comes back.
    """

    def __init__(
        self,
        url: str,
        settings: SerialSettings,
        *,
        on_status: Callable[[LinkStatus, str], None] | None = None,
        read_timeout: float = 0.05,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the link; nothing is opened until ``connect``."""
        self.url = url
        self.settings = settings
        self._on_status = on_status or (lambda status, detail: None)
        self._read_timeout = read_timeout
        self._max_backoff = max_backoff
        self._port: SerialPort | None = None
        self._stop = threading.Event()
        self._was_connected = False
        self._lost = False
        self._write_lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Return whether the port is open now."""
        return self._port is not None

    def connect(self) -> bool:
        """Open the port, retrying with backoff; return False if stopped first."""
        delay = 0.1
        while not self._stop.is_set():
            try:
                self._port = open_port(self.url, self.settings, self._read_timeout)
            except DeviceDisconnected as err:
                if not self._lost:
                    self._lost = True
                    self._on_status("disconnected", str(err))
                self._stop.wait(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            status: LinkStatus = "reconnected" if self._was_connected else "connected"
            self._was_connected = True
            self._lost = False
            self._on_status(status, self.url)
            return True
        return False

    def _fail(self, err: BaseException) -> DeviceDisconnected:
        self.close()
        if not self._lost and not self._stop.is_set():
            self._lost = True
            self._on_status("disconnected", f"{self.url}: {err}")
        return DeviceDisconnected(f"{self.url}: {err}")

    def read(self, size: int = 256) -> bytes:
        """Read what arrives within the read timeout (possibly nothing)."""
        port = self._port
        if port is None:
            raise DeviceDisconnected(f"{self.url} is not open")
        try:
            first = port.read(1)
            if not first:
                return b""
            waiting = port.in_waiting
            return first + (port.read(min(waiting, size)) if waiting else b"")
        except _IO_ERRORS as err:
            raise self._fail(err) from err

    def read_nowait(self, size: int = 256) -> bytes:
        """Return bytes already waiting, without blocking; notices an unplugged port."""
        port = self._port
        if port is None:
            raise DeviceDisconnected(f"{self.url} is not open")
        try:
            fileno = getattr(port, "fileno", None)
            if fileno is not None and isinstance(port, serial.Serial):
                ready, _, _ = select.select([fileno()], [], [], 0)
                if not ready:
                    return b""
                return bytes(port.read(max(1, min(port.in_waiting, size))))
            waiting = port.in_waiting
            return bytes(port.read(min(waiting, size))) if waiting else b""
        except _IO_ERRORS as err:
            raise self._fail(err) from err

    def read_until(self, terminator: bytes, size: int, timeout: float) -> bytes:
        """Read until ``terminator``, ``size`` bytes or ``timeout`` seconds, whichever first."""
        port = self._port
        if port is None:
            raise DeviceDisconnected(f"{self.url} is not open")
        deadline = time.monotonic() + timeout
        buf = bytearray()
        try:
            while time.monotonic() < deadline and len(buf) < size:
                chunk = port.read(1)
                if chunk:
                    buf += chunk
                    if buf.endswith(terminator):
                        break
        except _IO_ERRORS as err:
            raise self._fail(err) from err
        return bytes(buf)

    def write(self, data: bytes) -> None:
        """Write all of ``data``."""
        with self._write_lock:
            port = self._port
            if port is None:
                raise DeviceDisconnected(f"{self.url} is not open")
            try:
                port.write(data)
                port.flush()
            except _IO_ERRORS as err:
                raise self._fail(err) from err

    def reset_input(self) -> None:
        """Drop unread input (before a command/response exchange)."""
        port = self._port
        if port is not None:
            try:
                port.reset_input_buffer()
            except _IO_ERRORS as err:
                raise self._fail(err) from err

    def close(self) -> None:
        """Close the port (the link can be connected again)."""
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                log.debug("closing %s failed", self.url, exc_info=True)

    def stop(self) -> None:
        """Stop reconnecting and close the port."""
        self._stop.set()
        self.close()

    def pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True (at once) when ``stop`` is called meanwhile."""
        return self._stop.wait(seconds)

    @property
    def stopped(self) -> bool:
        """Return whether ``stop`` was called."""
        return self._stop.is_set()
