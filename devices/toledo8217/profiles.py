"""Toledo 8217 settings as data, in the shape of Odoo's ``Toledo8217Protocol``.

Odoo frames replies by waiting for a 1 s read timeout; here replies are framed on ``CR``
(``reply_timeout_s`` only bounds a missing reply), so a poll costs one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from devices.config import DeviceConfig
from devices.scales.settle import SettleRule
from devices.transport import SerialSettings


@dataclass(frozen=True)
class Toledo8217Profile:
    """Line settings, commands and timing of one 8217-protocol scale."""

    name: str = "toledo-8217"
    serial: SerialSettings = field(
        default_factory=lambda: SerialSettings(baudrate=9600, bytesize=7, parity="E", stopbits=1)
    )
    measure_command: bytes = b"W"
    zero_command: bytes = b"Z"
    tare_command: bytes = b"T"
    clear_command: bytes = b"C"
    reply_terminator: bytes = b"\r"
    poll_interval_s: float = 0.1
    reply_timeout_s: float = 0.5
    command_timeout_s: float = 1.0
    max_misses: int = 3
    unit: Literal["kg", "lb"] | None = None
    rule: SettleRule = field(default_factory=lambda: SettleRule(readings=3, min_time_s=0.5, division_g=5.0))


TOLEDO_8217 = Toledo8217Profile()
ODOO_REFERENCE_MS = 1000  # Odoo waits on a 1 s read timeout per weight (serial_scale_driver.py)


class Toledo8217Config(DeviceConfig):
    """A Toledo 8217 scale as the checkout scale."""

    type: Literal["toledo8217"] = "toledo8217"
