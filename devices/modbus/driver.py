"""Modbus RTU IO-module driver: a lock coil and polled discrete inputs (door contact, exit)."""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable

from devices.driver import DriverThread, StatusCallback
from devices.errors import DeviceTimeoutError
from devices.modbus.profiles import MODBUS_9600_8N1
from devices.modbus.protocol import (
    READ_COILS,
    READ_DISCRETE_INPUTS,
    BitsReply,
    ExceptionReply,
    FlashCoil,
    ModbusCodec,
    ModbusEvent,
    ReadBits,
    Role,
    WriteCoil,
    flash_units,
)
from devices.transport import SerialSettings

log = logging.getLogger(__name__)


class ModbusDriver(DriverThread):
    """Poll a module's discrete inputs and drive one coil as the lock output.

    ``on_inputs`` hears the input bits whenever they change (and once after each connect).
    A module that stops answering is reported ``disconnected`` after ``max_misses`` timeouts,
    and the port is reopened.
    """

    def __init__(
        self,
        url: str,
        *,
        unit: int = 1,
        lock_coil: int = 0,
        inputs: int = 2,
        name: str = "io",
        settings: SerialSettings = MODBUS_9600_8N1,
        poll_interval: float = 0.05,
        reply_timeout: float = 0.3,
        max_misses: int = 3,
        on_inputs: Callable[[tuple[bool, ...]], None] | None = None,
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
        verify_coil: bool = True,
        on_fault: Callable[[str], None] | None = None,
        timed_pulse: bool = False,
    ) -> None:
        """Prepare the driver; the coil starts OFF (locked).

        With ``verify_coil`` every coil write is read back (FC01); a coil that does not follow
        (a stuck relay, a module that ignores writes) is reported to ``on_fault``. With
        ``timed_pulse`` (a board with the "flash on" command) a pulse is timed by the board
        itself, so it ends even if this process dies; the driver still writes OFF at the end.
        """
        super().__init__(url, name=name, settings=settings, on_status=on_status, max_backoff=max_backoff)
        self.unit = unit
        self.lock_coil = lock_coil
        self.input_count = inputs
        self.poll_interval = poll_interval
        self.reply_timeout = reply_timeout
        self.max_misses = max_misses
        self.on_inputs = on_inputs or (lambda bits: None)
        self.codec = ModbusCodec(Role.HOST)
        self._wanted = False
        self._pending: queue.SimpleQueue[bool | float] = queue.SimpleQueue()  # float: a timed pulse
        self._inputs: tuple[bool, ...] | None = None
        self._misses = 0
        self._next_poll = 0.0
        self.garbage = 0
        self.verify_coil = verify_coil
        self.on_fault = on_fault or (lambda message: None)
        self.coil_sensed: bool | None = None
        self.exceptions = 0
        self._off_at: float | None = None
        self.timed_pulse = timed_pulse

    @property
    def times_pulses(self) -> bool:
        """Return whether ``pulse`` is timed by the board (a pulse survives no dead host)."""
        return self.timed_pulse

    def set_energised(self, on: bool) -> None:
        """Ask for the lock coil ON (unlocked) or OFF (locked)."""
        self._wanted = on
        self._off_at = None
        self._pending.put(on)

    def pulse(self, seconds: float) -> None:
        """Energise the coil for ``seconds``, then switch it OFF (timed by the driver thread, and by the board)."""
        if not self.timed_pulse:
            self.set_energised(True)
            self._off_at = time.monotonic() + seconds
            return
        self._wanted = True
        self._off_at = time.monotonic() + seconds
        self._pending.put(float(seconds))

    @property
    def energised(self) -> bool:
        """Return the last coil state asked for."""
        return self._wanted

    @property
    def inputs(self) -> tuple[bool, ...] | None:
        """Return the last input bits read, or None before the first poll."""
        return self._inputs

    def on_connected(self) -> None:
        """Write the wanted coil state and force an input report."""
        while not self._pending.empty():
            self._pending.get_nowait()
        self._inputs = None
        self._misses = 0
        off_at = self._off_at
        if self._wanted and self.timed_pulse and off_at is not None:  # a pulse still running: time it again
            self._write_coil(True, max(0.1, off_at - time.monotonic()))
        else:
            self._write_coil(self._wanted)

    def _write_coil(self, on: bool, seconds: float | None = None) -> None:
        """Write the coil (``seconds``: a board-timed pulse) and read it back when verifying."""
        if seconds is not None:
            request: WriteCoil | FlashCoil = FlashCoil(self.unit, self.lock_coil, flash_units(seconds))
        else:
            request = WriteCoil(self.unit, self.lock_coil, on)
        reply = self._transact(request)
        if seconds is not None and isinstance(reply, ExceptionReply):  # a board without "flash on"
            message = (
                f"{self.name}: unit {self.unit} refused the timed pulse (exception {reply.code}); "
                "set timed_pulse = false"
            )
            log.error("%s", message)
            self.on_fault(message)
            self._write_coil(True)  # still unlock, timed by this driver only
            return
        if not self.verify_coil or not isinstance(reply, (WriteCoil, FlashCoil)):
            return
        bits = self._transact(ReadBits(self.unit, READ_COILS, self.lock_coil, 1))
        if isinstance(bits, BitsReply) and bits.bits:
            self.coil_sensed = bits.bits[0]
            if self.coil_sensed != on:
                sensed, wrote = ("ON" if self.coil_sensed else "OFF"), ("ON" if on else "OFF")
                message = f"{self.name}: coil {self.lock_coil} reads {sensed} after writing {wrote}"
                log.error("%s", message)
                self.on_fault(message)

    def service(self) -> None:
        """Write a queued coil change first; end a pulse on time; poll the inputs when due."""
        if self._off_at is not None and time.monotonic() >= self._off_at:
            self._off_at = None
            self._wanted = False
            self._write_coil(False)
        wait = max(0.0, self._next_poll - time.monotonic())
        if self._off_at is not None:
            wait = min(wait, max(0.0, self._off_at - time.monotonic()))
        try:
            on = self._pending.get(timeout=wait) if wait else self._pending.get_nowait()
        except queue.Empty:
            on = None
        if isinstance(on, float):
            self._write_coil(True, on)
            return
        if on is not None:
            self._write_coil(on)
            return
        if time.monotonic() < self._next_poll:
            return
        self._next_poll = time.monotonic() + self.poll_interval
        reply = self._transact(ReadBits(self.unit, READ_DISCRETE_INPUTS, 0, self.input_count))
        if isinstance(reply, BitsReply) and reply.bits != self._inputs:
            self._inputs = reply.bits
            self.on_inputs(reply.bits)

    def _transact(self, request: WriteCoil | FlashCoil | ReadBits) -> ModbusEvent | None:
        """Send one request and wait for its reply; count misses."""
        self.link.reset_input()
        self.link.write(self.codec.send(request))
        deadline = time.monotonic() + self.reply_timeout
        while time.monotonic() < deadline:
            for event in self.codec.receive_data(self.link.read()):
                answered = isinstance(event, (BitsReply, WriteCoil, FlashCoil, ExceptionReply))
                if answered and event.unit == self.unit:  # type: ignore[union-attr]
                    self._misses = 0
                    if isinstance(event, ExceptionReply):
                        self.exceptions += 1
                        log.warning("%s: exception %d to %s", self.name, event.code, request)
                    return event
                self.garbage += 1
        self._misses += 1
        if self._misses >= self.max_misses:
            self._misses = 0
            raise DeviceTimeoutError(f"{self.name}: no reply from unit {self.unit}")
        return None
