"""OSDP settings as data: line settings, PD address, secure-channel key, timing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from devices.config import DeviceConfig
from devices.transport import SerialSettings


@dataclass(frozen=True)
class OsdpProfile:
    """How the control panel reaches one peripheral device (reader).

    ``scbk`` is the reader's 16-byte Secure Channel Base Key; None runs without the secure
    channel (only for bench tests: OSDP without it sends card numbers in clear text).
    ``install_mode`` lets a factory-new reader join with the default key SCBK-D once.
    """

    name: str = "osdp-9600"
    serial: SerialSettings = field(default_factory=SerialSettings)
    address: int = 1
    scbk: bytes | None = None
    install_mode: bool = False
    online_timeout_s: float = 3.0


OSDP_9600 = OsdpProfile()
OSDP_115200 = OsdpProfile(name="osdp-115200", serial=SerialSettings(baudrate=115200))
TEST_SCBK = bytes(range(0x30, 0x40))  # simulator and selftest only; never use on a real door


class OsdpConfig(DeviceConfig):
    """OSDP reader on RS-485; the secure channel key is read from ``scbk_file`` (32 hex digits).

    ``insecure = true`` runs without the secure channel (card numbers cross the wire in clear:
    bench use only); one of the two must be given.
    """

    type: Literal["osdp"] = "osdp"
    address: int = Field(default=1, ge=0, le=126)
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = 9600
    scbk_file: Path | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _one_key_source(self) -> OsdpConfig:
        if (self.scbk_file is None) == (not self.insecure):
            raise ValueError("an OSDP reader needs scbk_file (its secure channel key) or insecure = true, not both")
        return self

    def driver_options(self) -> dict[str, Any]:
        """Return the profile: line speed, address and the key read from ``scbk_file``.

        Raises:
            OSError: the key file cannot be read.
            ValueError: it does not hold 16 bytes of hex.
        """
        scbk = None
        if self.scbk_file is not None:
            scbk = bytes.fromhex(self.scbk_file.read_text().strip())
            if len(scbk) != 16:
                raise ValueError(f"{self.scbk_file}: an OSDP secure channel key is 16 bytes (32 hex digits)")
        serial = SerialSettings(baudrate=self.baudrate)
        return {"profile": OsdpProfile(name=f"osdp-{self.baudrate}", serial=serial, address=self.address, scbk=scbk)}
