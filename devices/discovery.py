"""Find serial ports by what is plugged in, not by the ``/dev/ttyUSBn`` name it got this time.

A port spec ``usb:VID:PID[:SERIAL][@LOCATION]`` (hex ids, e.g. ``usb:1a86:7523@1-1.2`` or
``usb:0403:6001:A10K1234``) is resolved with ``serial.tools.list_ports`` every time the link
(re)opens, so a replugged adapter that came back as ``/dev/ttyUSB3`` is found again. Adapters
without a serial number (CH340, many PL2303) need ``@LOCATION`` (the physical USB port) when two
identical ones are plugged in; an ambiguous spec is refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from devices.errors import DeviceDisconnected

SCHEME = "usb:"
_SPEC = re.compile(r"usb:(?P<vid>[0-9A-Fa-f]{4}):(?P<pid>[0-9A-Fa-f]{4})(?::(?P<serial>[^@]+))?(?:@(?P<location>\S+))?")
SKIPPED_PORTS = frozenset({"/dev/ttyAMA10"})  # the Raspberry Pi 5 debug console (Odoo skips it too)


class PortInfo(Protocol):
    """The fields of ``serial.tools.list_ports_common.ListPortInfo`` that discovery reads."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    location: str | None


@dataclass(frozen=True)
class UsbSpec:
    """A USB serial adapter named by vendor/product id, optional serial number and location."""

    vid: int
    pid: int
    serial: str | None = None
    location: str | None = None

    def matches(self, port: PortInfo) -> bool:
        """Return whether ``port`` is this adapter."""
        if port.vid != self.vid or port.pid != self.pid:
            return False
        if self.serial is not None and (port.serial_number or "") != self.serial:
            return False
        return self.location is None or (port.location or "") == self.location

    def __str__(self) -> str:
        """Return the spec in its ``usb:`` form."""
        text = f"usb:{self.vid:04x}:{self.pid:04x}"
        if self.serial:
            text += f":{self.serial}"
        if self.location:
            text += f"@{self.location}"
        return text


def parse_spec(spec: str) -> UsbSpec:
    """Parse ``usb:VID:PID[:SERIAL][@LOCATION]``.

    Raises:
        ValueError: the spec is malformed.
    """
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        raise ValueError(f"not a usb:VID:PID[:SERIAL][@LOCATION] spec: {spec!r}")
    return UsbSpec(int(match["vid"], 16), int(match["pid"], 16), match["serial"], match["location"])


def _system_ports() -> Sequence[PortInfo]:
    from serial.tools import list_ports  # type: ignore[import-untyped, unused-ignore]

    return list(list_ports.comports())


def resolve(spec: str | UsbSpec, ports: Iterable[PortInfo] | None = None) -> str:
    """Return the device path of the one port matching ``spec``.

    Raises:
        DeviceDisconnected: nothing matches (unplugged), or several ports do (ambiguous).
    """
    usb = parse_spec(spec) if isinstance(spec, str) else spec
    candidates = [p for p in (ports if ports is not None else _system_ports()) if usb.matches(p)]
    if not candidates:
        raise DeviceDisconnected(f"no serial port matches {usb}")
    if len(candidates) > 1:
        names = ", ".join(sorted(p.device for p in candidates))
        hint = "add :SERIAL" if any(p.serial_number for p in candidates) else "add @LOCATION (no serial numbers)"
        raise DeviceDisconnected(f"{usb} is ambiguous ({names}): {hint}")
    return candidates[0].device


def resolve_url(url: str, ports: Callable[[], Iterable[PortInfo]] | None = None) -> str:
    """Return ``url`` with a ``usb:`` spec replaced by the current device path (other URLs as is)."""
    if not url.startswith(SCHEME):
        return url
    return resolve(url, ports() if ports is not None else None)


def describe(port: PortInfo) -> str:
    """Return the ``usb:`` spec that would find ``port`` again (or its device path if not USB)."""
    if port.vid is None or port.pid is None:
        return port.device
    return str(UsbSpec(port.vid, port.pid, port.serial_number or None, None if port.serial_number else port.location))


def serial_ports(skip: frozenset[str] = SKIPPED_PORTS) -> list[PortInfo]:
    """Return the system's serial ports, without consoles that must not be probed."""
    return [p for p in _system_ports() if p.device not in skip]
