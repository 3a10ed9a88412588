"""``devices probe``: every simulated device is identified, and no probe byte can move a lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devices import registry
from devices.lcus.protocol import LcusCodec, SetRelay
from devices.lcus.protocol import Role as LcusRole
from devices.modbus.protocol import ModbusCodec, WriteCoil
from devices.modbus.protocol import Role as ModbusRole
from devices.mtsics.protocol import CommandLine, MtSicsCodec
from devices.mtsics.protocol import Role as SicsRole
from devices.nextion.protocol import Instruction, NextionCodec
from devices.nextion.protocol import Role as NextionRole
from devices.probe import STEPS, mark_bytes, probe_port, probe_ports
from devices.pty import PtySimulatorHost
from devices.toledo8217.protocol import DigitalTare, ScaleCommand, Toledo8217Codec
from devices.toledo8217.protocol import Role as ScaleRole

EXPECTED = {
    "mtsics": "mt-sics",
    "toledo8217": "toledo-8217",
    "cas": "cas",
    "escpos": None,
    "nextion": "nextion",
    "scanner": "scanner",
    "wiegand": "wiegand",
    "keypad": "wiegand",
    "osdp": "osdp",
    "lcus": "lcus",
    "modbus": "modbus",
}


def probe_sessions() -> list[bytes]:
    """Return everything the probe may write, one session per step, plus the display mark."""
    return (
        [step.request or b"" for step in STEPS]
        + [step.after for step in STEPS if step.after]
        + [mark_bytes("/dev/ttyUSB9")]
    )


@pytest.mark.parametrize("session", probe_sessions())
def test_no_probe_bytes_switch_a_relay_or_zero_a_scale(session: bytes) -> None:
    for data in (session, b"".join(probe_sessions())):
        assert not [e for e in LcusCodec(LcusRole.DEVICE).receive_data(data) if isinstance(e, SetRelay)]
        assert not [e for e in ModbusCodec(ModbusRole.DEVICE).receive_data(data) if isinstance(e, WriteCoil)]
        scale = Toledo8217Codec(ScaleRole.DEVICE)
        commands = [*scale.receive_data(data), *scale.idle()]
        assert not [
            e for e in commands if isinstance(e, DigitalTare) or (isinstance(e, ScaleCommand) and e.char in "ZTC")
        ]
        sics = [e.command.name for e in MtSicsCodec(SicsRole.DEVICE).receive_data(data) if isinstance(e, CommandLine)]
        assert not set(sics) & {"Z", "ZI", "T", "TI", "TA", "TAC"}
        nextion = [e.text for e in NextionCodec(NextionRole.DEVICE).receive_data(data) if isinstance(e, Instruction)]
        assert all(text == "sendme" or not text.isprintable() or "=" not in text for text in nextion)


@pytest.fixture(scope="module")
def bench_of_ports() -> Iterator[dict[str, PtySimulatorHost]]:
    """Serve every simulator on its own pty; the scanner and Wiegand ones keep talking."""
    hosts = {spec.name: PtySimulatorHost(registry.build(spec.name)).start() for spec in registry.SIMULATORS}
    stop = threading.Event()

    def chatter() -> None:
        while not stop.wait(0.15):
            registry.inner(hosts["scanner"].simulator).scan("4006381333931")
            registry.inner(hosts["wiegand"].simulator).card(101, 4095)
            registry.inner(hosts["keypad"].simulator).keys("7")

    thread = threading.Thread(target=chatter, daemon=True)
    thread.start()
    yield hosts
    stop.set()
    thread.join(1)
    for host in hosts.values():
        host.stop()


def test_every_simulator_is_identified(bench_of_ports: dict[str, PtySimulatorHost]) -> None:
    names = list(bench_of_ports)
    results = probe_ports([bench_of_ports[n].path for n in names], mark=True)
    found = {name: result.protocol for name, result in zip(names, results, strict=True)}
    assert found == EXPECTED
    by_name = dict(zip(names, results, strict=True))
    assert by_name["toledo8217"].settings == "9600 7E1"
    assert by_name["mtsics"].details["serial_number"] == "B123456789"
    assert by_name["lcus"].details["channels"] == "4"
    assert "write-only" in by_name["escpos"].hint
    assert by_name["mtsics"].summary().endswith("Mettler Toledo MT-SICS scale (9600 8N1)")
    display: Any = registry.inner(bench_of_ports["escpos"].simulator)
    assert display.lines == ("smartstore probe".ljust(20), "tty".ljust(20))  # the technician sees the port


def test_a_missing_port_is_an_error_not_a_crash() -> None:
    result = probe_port("/dev/does-not-exist-42")
    assert result.error
    assert result.protocol is None
    assert result.summary().startswith("does-not-exist-42: error")


def test_json_shape(serve: Callable[[Any], PtySimulatorHost]) -> None:
    host = serve(registry.build("cas"))
    data = probe_port(host.path, listen_s=0.3).to_json()
    assert data["protocol"] == "cas"
    assert {"port", "protocol", "device", "settings", "details", "usb", "hint", "error", "marked", "seconds"} <= set(
        data
    )
