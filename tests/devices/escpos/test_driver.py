"""Pole display driver and simulator: the 2×20 grid shows what the agent asked, across unplugs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devices.escpos.driver import EscposDriver
from devices.escpos.profiles import CD5220, EPSON_DAISY_CHAINED
from devices.escpos.protocol import encode_all, show_lines
from devices.escpos.simulator import EscposSimulator
from devices.pty import PtySimulatorHost
from devices.screen import BasketLine, BasketView, basket_lines
from tests.devices.helpers import Recorder, wait_until


def test_simulator_grid_follows_the_golden_total_screen() -> None:
    sim = EscposSimulator()
    sim.receive_data(bytes.fromhex("0C 1F 24 01 01 54 4F 54 41 4C 1F 24 10 02 31 32 2E 35 30"))
    assert sim.lines == ("TOTAL".ljust(20), "12.50".rjust(20))


def test_overwrite_mode_wraps_to_the_next_line_and_back_to_the_top() -> None:
    sim = EscposSimulator()
    sim.receive_data(b"A" * 20 + b"B" * 20 + b"C")
    assert sim.lines == ("C" + "A" * 19, "B" * 20)


def test_vertical_scroll_mode_scrolls_the_lower_line_up() -> None:
    sim = EscposSimulator()
    sim.receive_data(b"\x1f\x02" + b"A" * 20 + b"B" * 20 + b"C")
    assert sim.lines == ("B" * 20, "C".ljust(20))


def test_clear_line_and_cursor_moves() -> None:
    sim = EscposSimulator()
    sim.receive_data(encode_all(show_lines("hello", "world")) + b"\x1f\x24\x01\x01\x18" + b"\x0bX\x0dY")
    assert sim.lines == ("Y".ljust(20), "world".ljust(20))


def test_garbage_is_counted_and_does_not_move_the_cursor() -> None:
    sim = EscposSimulator()
    sim.receive_data(b"\x01\x02\x1b\x07AB")
    assert sim.lines[0].startswith("AB")
    assert sim.garbage == 1


@pytest.fixture
def rig(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> tuple[EscposSimulator, PtySimulatorHost, EscposDriver, Recorder]:
    """Return a simulated display on a pty and a running driver."""
    sim = EscposSimulator()
    host = serve(sim)
    status = Recorder()
    driver = run_driver(EscposDriver(host.path, on_status=status, max_backoff=0.1))
    return sim, host, driver, status


def test_show_lines_and_basket(rig: tuple[EscposSimulator, PtySimulatorHost, EscposDriver, Recorder]) -> None:
    sim, host, driver, _ = rig
    driver.show_lines("Welcome", "Scan items")
    assert sim.wait_for_lines(("Welcome", "Scan items"))
    assert host.received.startswith(bytes.fromhex("1B 40 1F 01 1F 43 00"))  # init, overwrite, cursor off
    view = BasketView((BasketLine("Milk 1L", "1.25"), BasketLine("Chocolate", "2.50", 2)), "6.25")
    driver.show_basket(view)
    assert sim.wait_for_lines(basket_lines(view))
    assert sim.lines == ("2x Chocolate    2.50", "3 items   TOTAL 6.25")
    driver.show_amount_due("6.25", "EUR ")
    assert sim.wait_for_lines(("TOTAL", " " * 12 + "EUR 6.25"))


def test_a_burst_of_updates_ends_on_the_latest_screen(
    rig: tuple[EscposSimulator, PtySimulatorHost, EscposDriver, Recorder],
) -> None:
    sim, _, driver, _ = rig
    for i in range(50):
        driver.show_lines(f"item {i}", f"total {i}")
    assert sim.wait_for_lines(("item 49", "total 49"))
    assert driver.writes <= 50


def test_unplug_then_replug_redraws_the_screen(
    rig: tuple[EscposSimulator, PtySimulatorHost, EscposDriver, Recorder],
) -> None:
    sim, host, driver, status = rig
    driver.show_lines("Before", "unplug")
    assert sim.wait_for_lines(("Before", "unplug"))
    host.unplug()
    assert wait_until(lambda: "disconnected" in status.statuses())
    sim.receive_data(b"\x0c")  # a replugged display powers up blank
    driver.show_lines("During", "outage")
    host.replug()
    assert wait_until(lambda: "reconnected" in status.statuses())
    assert sim.wait_for_lines(("During", "outage"))


def test_cd5220_and_daisy_chained_profiles(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = EscposSimulator()
    host = serve(sim)
    driver = run_driver(EscposDriver(host.path, profile=CD5220, max_backoff=0.1))
    driver.show_lines("cd", "5220")
    assert sim.wait_for_lines(("cd", "5220"))
    assert b"\x1bQA" in host.received
    chained_sim = EscposSimulator()
    chained = serve(chained_sim)
    run_driver(EscposDriver(chained.path, profile=EPSON_DAISY_CHAINED, max_backoff=0.1)).show_lines("x")
    assert chained_sim.wait_for_lines(("x", ""))
    assert chained.received.startswith(b"\x1b=\x02")
