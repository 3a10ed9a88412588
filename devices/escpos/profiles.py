"""Pole display settings as data: line settings, geometry, command dialect, code page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from devices.config import DeviceConfig
from devices.escpos.protocol import Dialect
from devices.transport import SerialSettings


@dataclass(frozen=True)
class EscposProfile:
    """One pole display model (DIP switches set baud rate and command mode: verify per unit)."""

    name: str = "epson-dm-d"
    serial: SerialSettings = field(default_factory=SerialSettings)
    columns: int = 20
    rows: int = 2
    dialect: Dialect = "epson"
    encoding: str = "cp437"
    select_device: int | None = None


EPSON_DM_D = EscposProfile()
CD5220 = EscposProfile(name="cd5220", dialect="cd5220")
EPSON_DAISY_CHAINED = EscposProfile(name="epson-dm-d-chained", select_device=2)


class EscposConfig(DeviceConfig):
    """A 2x20 ESC/POS pole display as the customer screen."""

    type: Literal["escpos"] = "escpos"
