"""Scanner settings as data: line settings, prefix, terminator, AIM symbology ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from devices.config import DeviceConfig
from devices.transport import SerialSettings


@dataclass(frozen=True)
class ScannerProfile:
    """How one scanner model frames its output."""

    name: str = "generic"
    serial: SerialSettings = field(default_factory=SerialSettings)
    prefix: bytes = b""
    suffix: bytes = b""
    terminator: bytes = b"\r\n"
    aim_ids: bool = False
    max_length: int = 2048


GENERIC_CRLF = ScannerProfile()
GENERIC_CR = ScannerProfile(name="generic-cr", terminator=b"\r")
AIM_CRLF = ScannerProfile(name="aim", aim_ids=True)
GENERIC_TAB = ScannerProfile(name="generic-tab", terminator=b"\t")
PROFILES = {p.name: p for p in (GENERIC_CRLF, GENERIC_CR, AIM_CRLF, GENERIC_TAB)}


class ScannerConfig(DeviceConfig):
    """Serial QR/barcode reader (at the door or a checkout)."""

    type: Literal["scanner"] = "scanner"
    profile: Literal["generic", "generic-cr", "aim"] = "generic"

    def scanner_profile(self) -> ScannerProfile:
        """Return the framing profile ``profile`` names."""
        return PROFILES[self.profile]

    def driver_options(self) -> dict[str, Any]:
        """Return the framing profile the driver reads with."""
        return {"profile": self.scanner_profile()}
