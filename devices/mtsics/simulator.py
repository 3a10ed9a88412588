"""Simulated MT-SICS balance (device role) over the shared ``ScaleModel``.

Faults: ``unstable`` (never settles: ``SI`` answers ``S D``, ``S`` times out with ``S I``) and
``overload`` (``S +``). ``S``, ``Z`` and ``T`` wait for stability up to ``stable_timeout_s`` as a
real balance does, answering from ``poll`` when the weight settles.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from devices.mtsics.protocol import (
    Command,
    CommandLine,
    Garbage,
    MtSicsCodec,
    Role,
    SicsError,
    SicsReply,
    StatusReply,
    TextReply,
    WeightReply,
)
from devices.scales.model import CommandResult, ScaleFaults, ScaleModel


@dataclass
class _Pending:
    command: Command
    deadline: float


_RANGE_STATUS: dict[CommandResult, str] = {"above_range": "+", "below_range": "-", "overload": "+"}


class MtSicsSimulator(ScaleFaults):
    """An MT-SICS balance: ``S SI Z ZI T TI TA TAC @`` and unsolicited ``I4 A`` at power-on."""

    name = "mtsics"

    def __init__(
        self,
        model: ScaleModel | None = None,
        *,
        unit: str = "g",
        decimals: int = 2,
        serial_number: str = "B123456789",
        stable_timeout_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create a balance; ``unit``/``decimals`` set how values are printed."""
        self.model = model or ScaleModel(capacity_g=6200.0, division_g=0.01, clock=clock)
        self.codec = MtSicsCodec(Role.DEVICE)
        self.unit = unit
        self.decimals = decimals
        self.serial_number = serial_number
        self.stable_timeout_s = stable_timeout_s
        self.clock = clock
        self.commands: list[Command] = []
        self.garbage = 0
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        self._greeted = False

    def power_on(self) -> None:
        """Send the unsolicited ``I4 A "<serial>"`` line again (as after a power cycle)."""
        self._greeted = False

    # ------------------------------------------------------------------ encoding
    def _value(self, grams: float) -> str:
        scale = {"g": 1.0, "kg": 1000.0, "mg": 0.001}.get(self.unit, 1.0)
        return f"{grams / scale:.{self.decimals}f}"

    def _weight(self, ident: str, stable_only: bool) -> SicsReply | None:
        snap = self.model.snapshot()
        if snap.overload:
            return StatusReply(ident, "+")
        if snap.underload:
            return StatusReply(ident, "-")
        if stable_only and not snap.stable:
            return None
        return WeightReply(ident, "S" if snap.stable else "D", self._value(snap.net_g), self.unit)

    def _handle(self, command: Command) -> SicsReply | None:
        """Answer now, or return None to wait for stability."""
        name = command.name
        if name == "@":
            self._pending.clear()
            return TextReply("I4", "A", self.serial_number)
        if name == "SI":
            return self._weight("S", stable_only=False)
        if name == "S":
            return self._weight("S", stable_only=True)
        if name in ("Z", "ZI", "T", "TI"):
            snap = self.model.snapshot()
            if snap.overload:
                return StatusReply(name[0], "+")
            if name in ("Z", "T") and not snap.stable:
                return None
            immediate = name.endswith("I")
            if name.startswith("Z"):
                result = self.model.zero(immediate=immediate)
                return StatusReply("Z", "A") if result == "ok" else StatusReply("Z", _RANGE_STATUS.get(result, "I"))
            result = self.model.tare(immediate=immediate)
            if result != "ok":
                return StatusReply("T", _RANGE_STATUS.get(result, "I"))
            return WeightReply("T", "S", self._value(self.model.tare_g), self.unit)
        if name == "TA":
            if command.params:
                try:
                    value = float(command.params[0])
                except ValueError:
                    return SicsError("EL")
                unit = command.params[1] if len(command.params) > 1 else self.unit
                grams = value * {"g": 1.0, "kg": 1000.0, "mg": 0.001}.get(unit, 1.0)
                if self.model.preset_tare(grams) != "ok":
                    return StatusReply("TA", "I")
            return WeightReply("TA", "A", self._value(self.model.tare_g), self.unit)
        if name == "TAC":
            self.model.clear_tare()
            return StatusReply("TAC", "A")
        return SicsError("ES")

    def _timeout_reply(self, command: Command) -> SicsReply:
        return StatusReply(command.name[0] if command.name != "S" else "S", "I")

    # ------------------------------------------------------------------ simulator protocol
    def receive_data(self, data: bytes) -> bytes:
        """Answer complete command lines; defer ``S``/``Z``/``T`` until stable."""
        out = bytearray()
        with self._lock:
            for event in self.codec.receive_data(data):
                if isinstance(event, Garbage):
                    self.garbage += 1
                    out += self.codec.send(SicsError("ET" if "ASCII" in event.reason else "ES"))
                    continue
                if not isinstance(event, CommandLine):
                    continue
                self.commands.append(event.command)
                if self._pending and event.command.name != "@":
                    out += self.codec.send(SicsError("EL"))  # one command at a time
                    continue
                reply = self._handle(event.command)
                if reply is None:
                    self._pending.append(_Pending(event.command, self.clock() + self.stable_timeout_s))
                else:
                    out += self.codec.send(reply)
        return bytes(out)

    def poll(self, now: float) -> bytes:
        """Send the power-on line once, and answer waiting commands when stable or timed out."""
        out = bytearray()
        with self._lock:
            if not self._greeted:
                self._greeted = True
                out += self.codec.send(TextReply("I4", "A", self.serial_number))
            if self._pending:
                pending = self._pending[0]
                reply = self._handle(pending.command)
                if reply is None and self.clock() >= pending.deadline:
                    reply = self._timeout_reply(pending.command)
                if reply is not None:
                    self._pending.pop(0)
                    out += self.codec.send(reply)
        return bytes(out)
