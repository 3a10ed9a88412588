"""Real-device checks, opt-in (see conftest): probe, read, and with ``--hw-write`` act."""

from __future__ import annotations

import time
from typing import Any

import pytest

from devices.probe import probe_port
from devices.scales.settle import WeightStable
from tests.devices.hardware.conftest import needs
from tests.devices.helpers import Recorder, wait_until

pytestmark = pytest.mark.hardware

PROTOCOL = {
    "mtsics": "mt-sics",
    "toledo8217": "toledo-8217",
    "cas": "cas",
    "nextion": "nextion",
    "scanner": "scanner",
    "wiegand": "wiegand",
    "osdp": "osdp",
    "lcus": "lcus",
    "modbus": "modbus",
}


def scale_driver(kind: str, port: str, **kwargs: Any) -> Any:
    """Build the driver of scale ``kind``."""
    if kind == "mtsics":
        from devices.mtsics.driver import MtSicsDriver

        return MtSicsDriver(port, **kwargs)
    if kind == "toledo8217":
        from devices.toledo8217.driver import Toledo8217Driver

        return Toledo8217Driver(port, **kwargs)
    from devices.cas.driver import CasDriver

    return CasDriver(port, **kwargs)


def test_probe_identifies_the_device(port: str, hw: dict[str, object]) -> None:
    needs(hw, *[k for k in PROTOCOL if k not in ("scanner", "wiegand", "lcus")])  # those may stay silent
    result = probe_port(port)
    assert result.error is None, result.error
    assert result.protocol == PROTOCOL[str(hw["device"])], result.summary()


def test_scale_settles_a_weight(port: str, hw: dict[str, object]) -> None:
    needs(hw, "mtsics", "toledo8217", "cas")
    weights = Recorder()
    driver = scale_driver(str(hw["device"]), port, on_weight=weights)
    driver.start()
    try:
        assert driver.wait_online(5)
        assert wait_until(lambda: bool(weights.of(WeightStable)), 15), (
            "no settled weight in 15 s (is the platter still?)"
        )
    finally:
        driver.stop()


def test_scale_zero_on_an_empty_platter(port: str, hw: dict[str, object]) -> None:
    needs(hw, "mtsics", "toledo8217", "cas", write=True)
    driver = scale_driver(str(hw["device"]), port)
    driver.start()
    try:
        assert driver.wait_online(5)
        print("leave the platter empty")
        time.sleep(1.0)
        assert driver.zero().result(15) is True
    finally:
        driver.stop()


def test_scale_tare_and_clear_with_a_container(port: str, hw: dict[str, object]) -> None:
    needs(hw, "mtsics", "toledo8217", "cas", write=True)
    weights = Recorder()
    driver = scale_driver(str(hw["device"]), port, on_weight=weights)
    driver.start()
    try:
        assert driver.wait_online(5)
        print(f"put a container on the platter within {hw['wait']} s")
        assert wait_until(lambda: any(w.grams > 0 for w in weights.of(WeightStable)), float(str(hw["wait"])))
        assert driver.tare().result(15) is True
        assert driver.clear_tare().result(15) is True or hw["device"] == "cas"  # CAS clears only when empty
    finally:
        driver.stop()


def test_pole_display_shows_text(port: str, hw: dict[str, object]) -> None:
    needs(hw, "escpos", write=True)
    from devices.escpos.driver import EscposDriver

    driver = EscposDriver(port)
    driver.start()
    try:
        assert driver.wait_online(5)
        driver.show_lines("smartstore", "hardware test")
        assert wait_until(lambda: driver.writes >= 1, 2)
    finally:
        driver.stop()


def test_nextion_answers(port: str, hw: dict[str, object]) -> None:
    needs(hw, "nextion")
    from devices.nextion.driver import NextionDriver
    from devices.nextion.protocol import CurrentPage

    driver = NextionDriver(port)
    driver.start()
    try:
        assert driver.wait_online(5)
        [page] = driver.current_page().result(3)
        assert isinstance(page, CurrentPage)
    finally:
        driver.stop()


def test_a_person_scans_a_code(port: str, hw: dict[str, object]) -> None:
    needs(hw, "scanner")
    from devices.scanner.driver import ScannerDriver

    scans = Recorder()
    driver = ScannerDriver(port, on_scan=scans)
    driver.start()
    try:
        print(f"scan any code within {hw['wait']} s")
        assert wait_until(lambda: bool(scans.items), float(str(hw["wait"])))
    finally:
        driver.stop()


def test_a_person_presents_a_card(port: str, hw: dict[str, object]) -> None:
    needs(hw, "wiegand", "osdp")
    cards = Recorder()
    driver: Any
    if hw["device"] == "wiegand":
        from devices.wiegand.driver import WiegandDriver

        driver = WiegandDriver(port, on_card=cards)
    else:
        from devices.osdp.driver import OsdpDriver
        from devices.osdp.profiles import OsdpProfile

        scbk = bytes.fromhex(str(hw["scbk"])) if hw["scbk"] else None
        driver = OsdpDriver(port, profile=OsdpProfile(scbk=scbk), on_card=cards)
    driver.start()
    try:
        print(f"present a card within {hw['wait']} s")
        assert wait_until(lambda: bool(cards.items), float(str(hw["wait"])))
    finally:
        driver.stop()


def test_modbus_inputs_are_read(port: str, hw: dict[str, object]) -> None:
    needs(hw, "modbus")
    from devices.modbus.driver import ModbusDriver

    inputs = Recorder()
    driver = ModbusDriver(port, on_inputs=inputs)
    driver.start()
    try:
        assert driver.wait_online(5)
        assert wait_until(lambda: bool(inputs.items), 3)
    finally:
        driver.stop()


def test_relay_pulse(port: str, hw: dict[str, object]) -> None:
    needs(hw, "lcus", "modbus", write=True)
    from devices.lcus.driver import LcusDriver
    from devices.modbus.driver import ModbusDriver

    driver: Any = LcusDriver(port) if hw["device"] == "lcus" else ModbusDriver(port)
    driver.start()
    try:
        assert driver.wait_online(5)
        driver.pulse(1.0)
        assert wait_until(lambda: not driver.energised, 3)
        if hw["device"] == "modbus":
            assert wait_until(lambda: driver.coil_sensed is False, 2)
    finally:
        driver.stop()
