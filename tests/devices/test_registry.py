"""The simulator registry: every device is listed, builds, and takes its faults."""

from __future__ import annotations

import time
from typing import Any

import pytest

from devices import registry
from devices.faults import FaultySimulator
from devices.pty import PtySimulatorHost

EXPECTED = {
    "mtsics",
    "toledo8217",
    "cas",
    "escpos",
    "nextion",
    "scanner",
    "wiegand",
    "keypad",
    "osdp",
    "lcus",
    "modbus",
}


def test_every_device_kind_is_registered_once() -> None:
    names = [spec.name for spec in registry.SIMULATORS]
    assert sorted(names) == sorted(EXPECTED)
    assert {spec.kind for spec in registry.SIMULATORS} == {"scale", "display", "reader", "lock"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_simulator_builds_and_speaks(name: str) -> None:
    sim = registry.build(name)
    assert callable(sim.receive_data)
    assert callable(sim.poll)
    sim.receive_data(b"\x00garbage\r\n")  # never crashes on junk
    sim.poll(time.monotonic())


def test_device_faults_are_applied() -> None:
    scale: Any = registry.build("mtsics", ["unstable", "overload"])
    assert scale.model.unstable
    assert scale.model.overload
    assert registry.build("lcus", ["stuck"]).stuck  # type: ignore[attr-defined]
    assert registry.build("wiegand", ["bad-parity"]).bad_parity  # type: ignore[attr-defined]
    assert registry.build("modbus", ["exception"]).exception_code == 4  # type: ignore[attr-defined]
    assert registry.build("nextion", ["silent"]).ignore_instructions  # type: ignore[attr-defined]


def test_generic_faults_wrap_the_simulator() -> None:
    sim = registry.build("escpos", ["garbage", "delay"])
    assert isinstance(sim, FaultySimulator)
    assert registry.inner(sim).name == "escpos"


def test_unknown_names_and_faults_are_refused() -> None:
    with pytest.raises(KeyError, match="unknown simulator"):
        registry.get("teleporter")
    with pytest.raises(ValueError, match="stuck"):
        registry.build("escpos", ["stuck"])


def test_cycle_runs_the_demo_and_the_unplug_fault() -> None:
    spec = registry.get("scanner")
    sim = registry.build("scanner")
    host = PtySimulatorHost(sim).start()
    cycle = registry.Cycle(host, spec, demo_every_s=0.5, unplug_every_s=0.2, down_s=0.1).start()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and "replugged" not in cycle.log:
            time.sleep(0.02)
        assert cycle.log[:2] == ["unplugged", "replugged"]
    finally:
        cycle.stop()
        host.stop()
