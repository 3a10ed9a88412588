"""CAS indicator settings as data: line settings, frame format, stream timing, settle rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from devices.cas.protocol import FrameFormat
from devices.config import DeviceConfig
from devices.scales.settle import SettleRule
from devices.transport import SerialSettings


@dataclass(frozen=True)
class CasProfile:
    """How one CAS indicator streams its weight."""

    name: str = "cas-22"
    serial: SerialSettings = field(default_factory=SerialSettings)
    frame_format: FrameFormat = "cas22"
    unit_for_data10: str = "kg"
    silence_timeout_s: float = 2.0
    command_timeout_s: float = 1.5
    rule: SettleRule = field(default_factory=lambda: SettleRule(readings=3, min_time_s=0.5, division_g=5.0))


CAS_22 = CasProfile()
CAS_AND_18 = CasProfile(
    name="cas-and-18", serial=SerialSettings(baudrate=9600, bytesize=7, parity="E", stopbits=1), frame_format="and18"
)
CAS_DATA_10 = CasProfile(name="cas-10", frame_format="data10")


class CasConfig(DeviceConfig):
    """A CAS indicator (continuous output) as the checkout scale."""

    type: Literal["cas"] = "cas"
