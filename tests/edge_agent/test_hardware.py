"""``edge_agent.hardware``: configured devices become the catalog's drivers (built, not started)."""

from __future__ import annotations

from typing import Any

from devices.escpos.driver import EscposDriver
from devices.lcus.driver import LcusDriver
from devices.modbus.driver import ModbusDriver
from devices.nextion.driver import NextionDriver
from devices.scanner.driver import ScannerDriver
from devices.scanner.profiles import AIM_CRLF, GENERIC_CRLF
from edge_agent import hardware
from edge_agent.adapters.checkout_io import NextionScreen, PoleScreen
from edge_agent.config import AgentSettings, StationSettings
from edge_agent.domain.door import DoorSensor, ExitPressed


def _status(seen: list[tuple[str, str]]) -> hardware.StatusFactory:
    def factory(role: str, kind: str) -> hardware.OnStatus:
        seen.append((role, kind))
        return lambda name, state, detail: None

    return factory


def _settings(lock: dict[str, Any], inputs_url: str | None = None) -> AgentSettings:
    data: dict[str, Any] = {"store_id": "s1", "lock": lock, "scanner": {"url": "loop://", "profile": "aim"}}
    if inputs_url:
        data["inputs"] = {"url": inputs_url}
    return AgentSettings.model_validate(data)


def test_an_lcus_lock_and_separate_inputs() -> None:
    seen: list[tuple[str, str]] = []
    settings = _settings({"type": "lcus", "url": "loop://", "channel": 2}, inputs_url="loop://io")
    lock, io = hardware.door_lock(settings.lock, settings.inputs, _status(seen))
    assert isinstance(lock, LcusDriver) and lock.channel == 2 and lock.name == "lock" and io is None
    assert settings.inputs is not None
    inputs = hardware.door_inputs(settings.inputs, io, lambda event: None, _status(seen))
    assert isinstance(inputs, ModbusDriver) and inputs.name == "io"
    assert seen == [("lock", "lcus"), ("inputs", "modbus")]
    assert hardware.is_lock_driver(lock) and hardware.is_lock_driver(inputs)


def test_a_modbus_lock_on_the_inputs_port_reads_them_too() -> None:
    seen: list[tuple[str, str]] = []
    settings = _settings({"type": "modbus", "url": "loop://", "coil": 3}, inputs_url="loop://")
    lock, io = hardware.door_lock(settings.lock, settings.inputs, _status(seen))
    assert isinstance(lock, ModbusDriver) and io is lock and lock.name == "io"
    assert settings.inputs is not None
    events: list[object] = []
    assert hardware.door_inputs(settings.inputs, io, events.append, _status(seen)) is None
    assert seen == [("inputs", "modbus")]
    lock.on_inputs((True, False))
    lock.on_inputs((True, True))
    assert events == [DoorSensor(True), ExitPressed()]


def test_the_door_scanner_uses_its_profile_and_checkout_scanners_the_generic_one() -> None:
    settings = _settings({"type": "lcus", "url": "loop://"})
    assert settings.scanner is not None
    door = hardware.door_scanner(settings.scanner, lambda text: None, _status([]))
    assert isinstance(door, ScannerDriver) and door.codec.profile is AIM_CRLF
    station = hardware.station_scanner(settings.scanner, "co1-scanner", lambda scan: None, _status([]))
    assert station.codec.profile is GENERIC_CRLF
    assert not hardware.is_lock_driver(door)


def test_screens_get_the_adapter_their_catalog_traits_call_for() -> None:
    seen: list[tuple[str, str]] = []
    for screen, driver_type, adapter in (
        ({"url": "loop://"}, NextionDriver, NextionScreen),
        ({"type": "escpos", "url": "loop://"}, EscposDriver, PoleScreen),
    ):
        st = StationSettings.model_validate({"station_id": "co1", "scale": {"url": "loop://"}, "screen": screen})
        assert st.screen is not None
        driver, rendered = hardware.station_screen(st.screen, "co1-screen", lambda item: None, _status(seen))
        assert isinstance(driver, driver_type) and isinstance(rendered, adapter) and driver.name == "co1-screen"
    assert seen == [("other", "nextion"), ("other", "escpos")]
