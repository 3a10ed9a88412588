"""OSDP settings as data: line settings, PD address, secure-channel key, timing."""

from __future__ import annotations

from dataclasses import dataclass, field

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
