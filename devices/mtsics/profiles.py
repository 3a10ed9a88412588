"""MT-SICS settings as data: line settings, the weigh command, timeouts and the settle rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from devices.config import DeviceConfig
from devices.scales.settle import SettleRule
from devices.transport import SerialSettings


@dataclass(frozen=True)
class MtSicsProfile:
    """How to talk to one MT-SICS scale model.

    The factory host setting is 9600 8N1 with Xon/Xoff; the driver sends one command at a time,
    so the balance's receive buffer never fills and Xon/Xoff is left off by default (a stray
    XOFF in line noise would otherwise stall our writes).
    """

    name: str = "mt-sics"
    serial: SerialSettings = field(default_factory=SerialSettings)
    weigh_command: str = "SI"
    poll_interval_s: float = 0.1
    reply_timeout_s: float = 1.0
    command_timeout_s: float = 12.0
    max_misses: int = 3
    rule: SettleRule = field(default_factory=lambda: SettleRule(readings=3, min_time_s=0.5, division_g=0.01))


BALANCE_0_01G = MtSicsProfile()
RETAIL_5G = MtSicsProfile(name="mt-sics-retail", rule=SettleRule(readings=3, min_time_s=0.5, division_g=5.0))


class MtSicsConfig(DeviceConfig):
    """A Mettler Toledo MT-SICS balance as the checkout scale."""

    type: Literal["mtsics"] = "mtsics"
