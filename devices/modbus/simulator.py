"""Simulated Modbus RTU relay/IO module: 8 coils, 8 discrete inputs (door contact, exit button).

It also takes the timed "flash on" write (``FlashCoil``) and times it itself: the coil goes
back OFF when the on-time is up, whatever the host does (``poll`` runs every few ms on its pty).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from devices.modbus.protocol import (
    ILLEGAL_ADDRESS,
    ILLEGAL_FUNCTION,
    READ_COILS,
    BitsReply,
    ExceptionReply,
    FlashCoil,
    Garbage,
    ModbusCodec,
    ReadBits,
    Role,
    WriteCoil,
)


class ModbusSimulator:
    """A relay/IO module at ``unit`` whose inputs tests and the demo can set."""

    name = "modbus"

    def __init__(
        self,
        unit: int = 1,
        coils: int = 8,
        inputs: int = 8,
        *,
        stuck: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create the module; all coils off, all inputs off (door closed = input 0 off)."""
        self.unit = unit
        self.codec = ModbusCodec(Role.DEVICE)
        self.coils = [False] * coils
        self.inputs = [False] * inputs
        self.stuck = stuck
        self.silent = False
        self.exception_code: int | None = None  # fault: answer every request with this exception
        self.garbage = 0
        self.changed = threading.Condition()
        self.clock = clock
        self.flash_until: dict[int, float] = {}  # coil -> when its timed pulse ends
        self.flashes: list[FlashCoil] = []

    def set_input(self, index: int, value: bool) -> None:
        """Set a discrete input (e.g. the door contact)."""
        self.inputs[index] = value

    def receive_data(self, data: bytes) -> bytes:
        """Answer requests addressed to this unit; broadcast (unit 0) gets no reply."""
        out = b""
        for event in self.codec.receive_data(data):
            if isinstance(event, Garbage):
                self.garbage += 1
                continue
            if self.silent or event.unit not in (self.unit, 0):
                continue
            reply = self._handle(event)
            if self.exception_code is not None and not isinstance(event, ExceptionReply):
                function = event.function if isinstance(event, ReadBits) else 0x05
                reply = ExceptionReply(self.unit, function, self.exception_code)
            if reply is not None and event.unit != 0:
                out += self.codec.send(reply)
        return out

    def _handle(self, event: object) -> WriteCoil | FlashCoil | BitsReply | ExceptionReply | None:
        if isinstance(event, WriteCoil):
            if event.address >= len(self.coils):
                return ExceptionReply(self.unit, 0x05, ILLEGAL_ADDRESS)
            self._set_coil(event.address, event.on)
            return event
        if isinstance(event, FlashCoil):
            if event.coil >= len(self.coils):
                return ExceptionReply(self.unit, 0x05, ILLEGAL_ADDRESS)
            self.flashes.append(event)
            self._set_coil(event.coil, True, until=self.clock() + event.seconds)
            return event
        if isinstance(event, ReadBits):
            table = self.coils if event.function == READ_COILS else self.inputs
            if event.address + event.count > len(table) or event.count == 0:
                return ExceptionReply(self.unit, event.function, ILLEGAL_ADDRESS)
            return BitsReply(self.unit, event.function, tuple(table[event.address : event.address + event.count]))
        if isinstance(event, ExceptionReply):
            return event
        return ExceptionReply(self.unit, 0, ILLEGAL_FUNCTION)

    def _set_coil(self, coil: int, on: bool, until: float | None = None) -> None:
        """Switch a coil (a plain write cancels a running timed pulse) and wake the watchers."""
        with self.changed:
            if not self.stuck:
                self.coils[coil] = on
            if until is None:
                self.flash_until.pop(coil, None)
            else:
                self.flash_until[coil] = until
            self.changed.notify_all()

    def poll(self, now: float) -> bytes:
        """End the timed pulses that are due; send nothing unsolicited."""
        for coil, until in list(self.flash_until.items()):
            if self.clock() >= until:
                self._set_coil(coil, False)
        return b""


def demo(sim: ModbusSimulator, step: int) -> None:
    """Play step ``step`` of the ``smartstore sim`` demo: the door contact opens and closes."""
    sim.set_input(0, bool(step % 2))
