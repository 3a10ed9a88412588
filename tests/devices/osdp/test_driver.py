"""OSDP control panel (libosdp) against the simulated reader (libosdp PD) on a pty."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devices.osdp.driver import OsdpDriver, PdStatus
from devices.osdp.profiles import TEST_SCBK, OsdpProfile
from devices.osdp.simulator import OsdpSimulator
from devices.pty import PtySimulatorHost
from devices.wiegand.protocol import CardRead
from tests.devices.helpers import Recorder, wait_until

Rig = tuple[OsdpSimulator, PtySimulatorHost, OsdpDriver, dict[str, Recorder]]


@pytest.fixture
def rig(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> Rig:
    """Return a secure-channel reader simulator and a running control panel."""
    sim = OsdpSimulator(1, TEST_SCBK)
    host = serve(sim)
    rec = {name: Recorder() for name in ("card", "pin", "keys", "pd_status", "status")}
    callbacks: dict[str, Any] = {f"on_{n}": r for n, r in rec.items()}
    driver = run_driver(OsdpDriver(host.path, profile=OsdpProfile(scbk=TEST_SCBK), max_backoff=0.1, **callbacks))
    assert wait_until(lambda: driver.pd_status == PdStatus(online=True, secure=True), 5)
    return sim, host, driver, rec


def test_secure_channel_comes_up(rig: Rig) -> None:
    sim, _, _, rec = rig
    assert sim.sc_active
    assert rec["pd_status"].items[-1] == PdStatus(True, True)
    assert any(p.name == "CHLNG" for p in sim.packets)  # the handshake really happened


def test_card_read_is_decoded_with_facility_and_number(rig: Rig) -> None:
    sim, _, _, rec = rig
    sim.card(101, 4095)
    sim.card(0xBEEF, 0x1234, bits=34)
    assert wait_until(lambda: rec["card"].items == [CardRead(26, 101, 4095), CardRead(34, 0xBEEF, 0x1234)])


def test_keypad_pin(rig: Rig) -> None:
    sim, _, _, rec = rig
    sim.keys("2468#")
    assert wait_until(lambda: rec["pin"].items == ["2468"])


def test_output_led_and_buzzer_commands(rig: Rig) -> None:
    sim, _, driver, _ = rig
    driver.output(0, True)
    assert wait_until(lambda: sim.outputs.get(0) is True)
    driver.output(0, False)
    assert wait_until(lambda: sim.outputs.get(0) is False)
    driver.led("green")
    driver.beep()
    assert wait_until(lambda: len(sim.commands) >= 4)


def test_unplug_then_replug_redoes_the_handshake(rig: Rig) -> None:
    sim, host, driver, rec = rig
    host.unplug()
    assert wait_until(lambda: "disconnected" in rec["status"].statuses())
    assert wait_until(lambda: not driver.pd_status.online)
    host.replug()
    assert wait_until(lambda: "reconnected" in rec["status"].statuses())
    assert wait_until(lambda: driver.pd_status.secure, 5)
    sim.card(1, 2)
    assert wait_until(lambda: CardRead(26, 1, 2) in rec["card"].items)


def test_wrong_key_never_goes_secure(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = OsdpSimulator(1, TEST_SCBK)
    host = serve(sim)
    cards = Recorder()
    driver = run_driver(OsdpDriver(host.path, profile=OsdpProfile(scbk=bytes(16)), on_card=cards, max_backoff=0.1))
    assert not wait_until(lambda: driver.pd_status.secure, 1.0)
    sim.card(101, 4095)
    assert not wait_until(lambda: bool(cards.items), 0.5)
