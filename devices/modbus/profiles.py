"""Line settings of Modbus RTU modules (cheap relay boards default to 9600 8N1), and the lock config."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from devices.config import DeviceConfig
from devices.transport import SerialSettings

MODBUS_9600_8N1 = SerialSettings(baudrate=9600, bytesize=8, parity="N", stopbits=1)
MODBUS_SPEC_DEFAULT = SerialSettings(baudrate=19200, bytesize=8, parity="E", stopbits=1)


class ModbusConfig(DeviceConfig):
    """A Modbus RTU module's coil as the lock output (may share the inputs' port)."""

    type: Literal["modbus"] = "modbus"
    unit: int = Field(default=1, ge=1, le=247)
    coil: int = Field(default=0, ge=0)
    # The board times pulses itself ("flash on", Waveshare Modbus RTU Relay protocol V2): an
    # unlock then ends on time even if the agent dies mid-pulse (docs/devices.md lists the boards).
    timed_pulse: bool = False

    def driver_options(self) -> dict[str, Any]:
        """Return the unit address, the lock coil and whether the board times pulses."""
        return {"unit": self.unit, "lock_coil": self.coil, "timed_pulse": self.timed_pulse}
