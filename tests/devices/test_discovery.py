"""USB port discovery: specs, resolution with fake port infos, and re-resolution on reconnect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from devices import discovery
from devices.discovery import UsbSpec, describe, parse_spec, resolve, resolve_url
from devices.errors import DeviceDisconnected
from devices.lcus.driver import LcusDriver
from devices.lcus.simulator import LcusSimulator
from devices.pty import PtySimulatorHost
from tests.devices.helpers import Recorder, wait_until


@dataclass
class FakePort:
    """The fields of pyserial's ListPortInfo that discovery reads."""

    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    location: str | None = None


CH340_A = FakePort("/dev/ttyUSB0", 0x1A86, 0x7523, None, "1-1.2")
CH340_B = FakePort("/dev/ttyUSB1", 0x1A86, 0x7523, None, "1-1.3")
FTDI = FakePort("/dev/ttyUSB2", 0x0403, 0x6001, "A10K1234", "1-1.4")
ONBOARD = FakePort("/dev/ttyAMA0")


def test_parse_spec_forms() -> None:
    assert parse_spec("usb:1a86:7523") == UsbSpec(0x1A86, 0x7523)
    assert parse_spec("usb:0403:6001:A10K1234") == UsbSpec(0x0403, 0x6001, "A10K1234")
    assert parse_spec("usb:1A86:7523@1-1.2") == UsbSpec(0x1A86, 0x7523, None, "1-1.2")
    assert str(parse_spec("usb:0403:6001:A10K1234@1-1.4")) == "usb:0403:6001:A10K1234@1-1.4"
    with pytest.raises(ValueError, match="not a usb"):
        parse_spec("usb:xyz")


def test_resolve_by_serial_and_by_location() -> None:
    ports = [CH340_A, CH340_B, FTDI, ONBOARD]
    assert resolve("usb:0403:6001:A10K1234", ports) == "/dev/ttyUSB2"
    assert resolve("usb:1a86:7523@1-1.3", ports) == "/dev/ttyUSB1"


def test_identical_adapters_without_serial_are_ambiguous() -> None:
    with pytest.raises(DeviceDisconnected, match=r"ambiguous.*@LOCATION"):
        resolve("usb:1a86:7523", [CH340_A, CH340_B])


def test_nothing_plugged_is_a_disconnect() -> None:
    with pytest.raises(DeviceDisconnected, match="no serial port matches"):
        resolve("usb:0403:6001:OTHER", [FTDI])


def test_other_urls_pass_through() -> None:
    assert resolve_url("/dev/serial/by-id/usb-x") == "/dev/serial/by-id/usb-x"
    assert resolve_url("socket://127.0.0.1:7000") == "socket://127.0.0.1:7000"
    assert resolve_url("usb:0403:6001", lambda: [FTDI]) == "/dev/ttyUSB2"


def test_describe_prefers_serial_then_location() -> None:
    assert describe(FTDI) == "usb:0403:6001:A10K1234"
    assert describe(CH340_A) == "usb:1a86:7523@1-1.2"
    assert describe(ONBOARD) == "/dev/ttyAMA0"


def test_pi5_console_is_never_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "_system_ports", lambda: [FakePort("/dev/ttyAMA10"), ONBOARD])
    assert [p.device for p in discovery.serial_ports()] == ["/dev/ttyAMA0"]


def test_replugged_adapter_is_found_under_its_new_name(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = LcusSimulator()
    first = serve(sim)
    plugged = [FakePort(first.path, 0x1A86, 0x7523, None, "1-1.2")]
    monkeypatch.setattr(discovery, "_system_ports", lambda: list(plugged))
    status = Recorder()
    driver = run_driver(LcusDriver("usb:1a86:7523@1-1.2", on_status=status, max_backoff=0.1))
    driver.set_energised(True)
    assert wait_until(lambda: sim.states[1])
    first.unplug()
    plugged.clear()
    assert wait_until(lambda: "disconnected" in status.statuses())
    second = serve(sim)  # the same board, enumerated again as another tty
    assert second.path != first.path
    plugged.append(FakePort(second.path, 0x1A86, 0x7523, None, "1-1.2"))
    sim.states[1] = False
    assert wait_until(lambda: "reconnected" in status.statuses())
    assert wait_until(lambda: sim.states[1])  # the wanted state was written to the new port
