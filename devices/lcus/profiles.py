"""Line settings of LCUS relay boards, and the lock config that selects one."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from devices.config import DeviceConfig
from devices.transport import SerialSettings

LCUS = SerialSettings(baudrate=9600, bytesize=8, parity="N", stopbits=1)
USB_IDS = ((0x1A86, 0x7523),)  # CH340, the usual bridge on LCUS boards


class LcusConfig(DeviceConfig):
    """LCUS USB relay as the lock output."""

    type: Literal["lcus"] = "lcus"
    channel: int = Field(default=1, ge=1, le=8)

    def driver_options(self) -> dict[str, Any]:
        """Return the relay channel the driver switches."""
        return {"channel": self.channel}
