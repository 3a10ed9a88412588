"""Nextion driver and simulator: confirmed text, three-choice touch, errors, restart, unplug."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest

from devices.errors import DeviceDisconnected, DeviceTimeoutError
from devices.nextion.driver import NextionDriver
from devices.nextion.protocol import CurrentPage, Instruction, ReturnCode, StringValue, Touch, set_text
from devices.nextion.simulator import NextionSimulator
from devices.pty import PtySimulatorHost
from devices.screen import BasketLine, BasketView
from tests.devices.helpers import Recorder, wait_until

Rig = tuple[NextionSimulator, PtySimulatorHost, NextionDriver, Recorder, Recorder, Recorder]


def test_simulator_answers_per_bkcmd() -> None:
    sim = NextionSimulator()
    assert sim.receive_data(b'home.t0.txt="a"\xff\xff\xff') == b""  # bkcmd=2: failures only
    assert sim.receive_data(b"nonsense\xff\xff\xff") == b"\x00\xff\xff\xff"
    assert sim.receive_data(b"bkcmd=3\xff\xff\xff") == b"\x01\xff\xff\xff"
    assert sim.receive_data(b'x9.txt="a"\xff\xff\xff') == b"\x1a\xff\xff\xff"
    assert sim.receive_data(b"page nowhere\xff\xff\xff") == b"\x03\xff\xff\xff"
    assert sim.value("t0", page="home") == "a"


@pytest.fixture
def rig(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> Rig:
    """Return a simulated Nextion on a pty and a running driver with recorders."""
    sim = NextionSimulator()
    host = serve(sim)
    touches, choices, status = Recorder(), Recorder(), Recorder()
    errors = Recorder()
    driver = run_driver(
        NextionDriver(
            host.path, on_touch=touches, on_choice=choices, on_error=errors, on_status=status, max_backoff=0.1
        )
    )
    driver.errors = errors
    return sim, host, driver, touches, choices, status


def test_show_message_is_confirmed_and_shown(rig: Rig) -> None:
    sim, host, driver, _, _, _ = rig
    replies = driver.show_message("Welcome", "Scan your items").result(3)
    assert replies == [ReturnCode(1)] * 3
    assert sim.page.name == "home"
    assert sim.value("t0") == "Welcome"
    assert sim.value("t1") == "Scan your items"
    assert b"bkcmd=3\xff\xff\xff" in host.received


def test_shopper_picks_one_of_three_suggestions(rig: Rig) -> None:
    sim, _, driver, touches, choices, _ = rig
    driver.show_choices(["Apple", "Pear", "Banana"], title="Which fruit?").result(3)
    assert (sim.page.name, sim.value("t0"), sim.value("b0"), sim.value("b1"), sim.value("b2")) == (
        "choices",
        "Which fruit?",
        "Apple",
        "Pear",
        "Banana",
    )
    sim.touch("b2")
    assert wait_until(lambda: choices.items == [(2, "Banana")])
    assert touches.items == [Touch(1, 4, True), Touch(1, 4, False)]


def test_fewer_choices_blank_the_spare_buttons(rig: Rig) -> None:
    sim, _, driver, _, choices, _ = rig
    driver.show_choices(["Apple"]).result(3)
    assert sim.value("b1") == ""
    assert sim.value("b2") == ""
    sim.touch("b1")
    sim.touch("b0")
    assert wait_until(lambda: choices.items == [(0, "Apple")])
    with pytest.raises(ValueError, match="1 to 3"):
        driver.show_choices(["a", "b", "c", "d"])


def test_touches_on_other_pages_are_not_choices(rig: Rig) -> None:
    sim, _, driver, touches, choices, _ = rig
    driver.show_choices(["A", "B", "C"]).result(3)
    driver.show_message("thanks").result(3)
    sim.touch("t0")
    assert wait_until(lambda: len(touches.items) == 2)
    assert choices.items == []


def test_basket_page(rig: Rig) -> None:
    sim, _, driver, _, _, _ = rig
    view = BasketView(tuple(BasketLine(f"P{i}", "1.00") for i in range(5)), "5.00")
    driver.show_basket(view).result(3)
    assert sim.page.name == "basket"
    assert (sim.value("t0"), sim.value("t2"), sim.value("t3"), sim.value("n0", "val")) == (
        "1 x P2  1.00",
        "1 x P4  1.00",
        "TOTAL 5.00",
        5,
    )


def test_read_back_and_current_page(rig: Rig) -> None:
    _, _, driver, _, _, _ = rig
    driver.show_message("abc").result(3)
    assert driver.get_text("t0").result(3) == [StringValue("abc")]
    assert driver.current_page().result(3) == [CurrentPage(0)]


def test_error_codes_reach_on_error(rig: Rig) -> None:
    _, _, driver, _, _, _ = rig
    replies = driver.send([set_text("zz", "x"), Instruction("nonsense")]).result(3)
    assert replies == [ReturnCode(0x1A), ReturnCode(0x00)]
    assert [code for _, code in driver.errors.items] == [ReturnCode(0x1A), ReturnCode(0x00)]  # type: ignore[attr-defined]


def test_display_restart_redraws_the_screen(rig: Rig) -> None:
    sim, host, driver, _, _, _ = rig
    driver.show_message("keep me").result(3)
    sim.values.clear()
    sim.bkcmd = 2
    host.send(bytes.fromhex("00 00 00 FF FF FF 88 FF FF FF"))  # power-on frames
    assert wait_until(lambda: sim.value("t0", page="home") == "keep me")
    assert sim.bkcmd == 3


def test_garbage_between_frames_is_skipped(rig: Rig) -> None:
    sim, host, driver, _, choices, _ = rig
    driver.show_choices(["A", "B", "C"]).result(3)
    host.send(b"\x42\x13\xfe\x00")
    sim.touch("b0")
    assert wait_until(lambda: choices.items == [(0, "A")])
    assert driver.garbage >= 1


def test_silent_display_fails_the_batch_and_then_disconnects(rig: Rig) -> None:
    sim, _, driver, _, _, status = rig
    sim.ignore_instructions = True
    futures: list[Future[Any]] = [driver.show_message(f"{i}") for i in range(3)]
    for future in futures:
        with pytest.raises((DeviceTimeoutError, DeviceDisconnected)):
            future.result(5)
    assert wait_until(lambda: "disconnected" in status.statuses())


def test_unplug_then_replug_draws_the_latest_screen(rig: Rig) -> None:
    sim, host, driver, _, _, status = rig
    driver.show_message("before").result(3)
    host.unplug()
    assert wait_until(lambda: "disconnected" in status.statuses())
    with pytest.raises(DeviceDisconnected):
        driver.show_message("during the outage").result(1)
    sim.values.clear()
    host.replug()
    assert wait_until(lambda: "reconnected" in status.statuses())
    assert wait_until(lambda: sim.value("t0", page="home") == "during the outage")
