"""Wiegand converter settings as data: line settings and the converter's text format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from devices.config import DeviceConfig
from devices.transport import SerialSettings
from devices.wiegand.protocol import ConverterFormat


@dataclass(frozen=True)
class WiegandProfile:
    """One converter model: how it prints frames, plus the PIN rules of the keypad."""

    name: str = "hex-frame"
    serial: SerialSettings = field(default_factory=SerialSettings)
    format: ConverterFormat = field(default_factory=ConverterFormat)
    pin_min_digits: int = 4
    pin_max_digits: int = 8
    pin_timeout_s: float = 10.0
    debounce_s: float = 1.0


HEX_FRAME = WiegandProfile()
WIE232 = WiegandProfile(name="wie232", format=ConverterFormat("hex-data", b"\r"))
S4A_DECIMAL = WiegandProfile(name="s4a-decimal", format=ConverterFormat("decimal", b"\r\n"))
BITS = WiegandProfile(name="bits", format=ConverterFormat("bits", b"\r\n"))

PROFILES = {p.name: p for p in (HEX_FRAME, WIE232, S4A_DECIMAL, BITS)}


class WiegandConfig(DeviceConfig):
    """Wiegand-to-serial converter: a card reader (and its keypad) at the door or a checkout."""

    type: Literal["wiegand"] = "wiegand"
    profile: Literal["hex-frame", "wie232", "s4a-decimal", "bits"] = "hex-frame"

    def driver_options(self) -> dict[str, Any]:
        """Return the converter profile the driver reads with."""
        return {"profile": PROFILES[self.profile]}


class KeypadConfig(WiegandConfig):
    """Wiegand keypad (4- or 8-bit keys): PINs ended with ``#``."""

    type: Literal["keypad"] = "keypad"  # type: ignore[assignment]
