"""Simulated Modbus RTU relay/IO module: 8 coils, 8 discrete inputs (door contact, exit button, beams).

It also takes the timed "flash on" write (``FlashCoil``) and times it itself: the coil goes
back OFF when the on-time is up, whatever the host does (``poll`` runs every few ms on its pty).
Scripted passages (``passage``, ``walk_through``, ``tailgate``) toggle the door contact and the
passage beams on that same clock, with the timing of a person walking through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

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

DOOR_INPUT = 0
BEAM_OUTER, BEAM_INNER = 2, 3  # the pair of beams: outer (street side) and inner
BEAM_STEP_S = 0.12  # a walker (~1.2 m/s, beams 15 cm apart) breaks the next beam this long after
PASSAGE_GAP_S = 0.3  # between one person and the next in a scripted opening


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
        self.script: list[tuple[float, int, bool]] = []  # (when, input, value), in time order
        self.scripted = threading.Condition()  # notified when a scripted change is applied

    def set_input(self, index: int, value: bool) -> None:
        """Set a discrete input (e.g. the door contact)."""
        self.inputs[index] = value

    def schedule(self, changes: Sequence[tuple[float, int, bool]]) -> float:
        """Set inputs later: each ``(delay_s, input, value)`` after the end of what is already scripted.

        Returns when (on ``clock``) the last change is due.
        """
        with self.scripted:
            at = max(self.clock(), self.script[-1][0] if self.script else 0.0)
            for delay, index, value in changes:
                at += delay
                self.script.append((at, index, value))
            return at

    def passage(
        self,
        direction: Literal["in", "out"],
        *,
        outer: int = BEAM_OUTER,
        inner: int = BEAM_INNER,
        step_s: float = BEAM_STEP_S,
    ) -> float:
        """Script one person walking through the beam pair: the first beam breaks, then the second, then they clear."""
        first, second = (outer, inner) if direction == "in" else (inner, outer)
        return self.schedule(
            [(0.0, first, True), (step_s, second, True), (step_s, first, False), (step_s, second, False)]
        )

    def pulse(self, index: int, on_s: float = 0.3) -> float:
        """Script one break of a counting beam at ``index`` (one person)."""
        return self.schedule([(0.0, index, True), (on_s, index, False)])

    def walk_through(
        self,
        directions: Sequence[Literal["in", "out"]],
        *,
        door: int = DOOR_INPUT,
        counter: int | None = None,
        step_s: float = BEAM_STEP_S,
    ) -> float:
        """Script one opening: the door opens, each person passes (beam pair, or ``counter`` beam), the door closes."""
        self.schedule([(0.2, door, True)])
        for direction in directions:
            if counter is None:
                self.passage(direction, step_s=step_s)
            else:
                self.pulse(counter, on_s=2 * step_s)
            self.schedule([(PASSAGE_GAP_S, door, True)])  # the door stays open between people
        return self.schedule([(0.3, door, False)])

    def tailgate(self, followers: int = 1, *, counter: int | None = None, step_s: float = BEAM_STEP_S) -> float:
        """Script the opening a granted shopper makes with ``followers`` more people walking in behind them."""
        return self.walk_through(["in"] * (1 + followers), counter=counter, step_s=step_s)

    def wait_script(self, timeout: float = 10.0) -> bool:
        """Wait until every scripted change has been applied."""
        with self.scripted:
            return self.scripted.wait_for(lambda: not self.script, timeout)

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
        """End the timed pulses and apply the scripted input changes that are due; send nothing unsolicited."""
        for coil, until in list(self.flash_until.items()):
            if self.clock() >= until:
                self._set_coil(coil, False)
        with self.scripted:
            while self.script and self.clock() >= self.script[0][0]:
                _, index, value = self.script.pop(0)
                self.inputs[index] = value
                self.scripted.notify_all()
        return b""


def demo(sim: ModbusSimulator, step: int) -> None:
    """Play step ``step`` of the ``smartstore sim`` demo: the door contact opens and closes."""
    sim.set_input(0, bool(step % 2))
