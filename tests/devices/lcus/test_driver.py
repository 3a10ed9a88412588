"""LCUS relay driver with the simulated board on a pty: safe start, pulse, status, faults, unplug."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devices.lcus.driver import LcusDriver
from devices.lcus.protocol import SetRelay
from devices.lcus.simulator import LcusSimulator
from devices.pty import PtySimulatorHost
from tests.devices.helpers import Recorder, wait_until


def test_starts_off_then_switches_and_pulses(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = LcusSimulator(channels=2)
    host = serve(sim)
    driver = run_driver(LcusDriver(host.path, channel=2, max_backoff=0.1))
    assert wait_until(lambda: sim.history[:1] == [SetRelay(2, False)])  # OFF written first
    driver.set_energised(True)
    assert wait_until(lambda: sim.states[2])
    assert driver.energised
    driver.pulse(0.2)
    assert wait_until(lambda: not sim.states[2], 2)
    assert not driver.energised
    assert sim.states[1] is False  # the other channel was never touched


def test_status_query_reads_twice_because_the_first_answer_can_be_stale(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = LcusSimulator(channels=4, stale_status=True)
    host = serve(sim)
    driver = run_driver(LcusDriver(host.path, channel=3, max_backoff=0.1))
    driver.set_energised(True)
    assert wait_until(lambda: sim.states[3])
    assert driver.query_status().result(3) == {1: False, 2: False, 3: True, 4: False}
    assert host.received.count(b"\xff") == 2


def test_lcus_1_has_no_readback(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> None:
    host = serve(LcusSimulator(channels=1))
    driver = run_driver(LcusDriver(host.path, max_backoff=0.1))
    assert driver.query_status().result(3) == {}


def test_stuck_relay_is_visible_in_the_status(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = LcusSimulator(channels=2, stuck=True)
    host = serve(sim)
    driver = run_driver(LcusDriver(host.path, max_backoff=0.1))
    driver.set_energised(True)
    assert wait_until(lambda: SetRelay(1, True) in sim.history)
    assert driver.query_status().result(3)[1] is False  # commanded ON, sensed OFF


def test_replug_writes_the_wanted_state_again(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = LcusSimulator()
    host = serve(sim)
    status = Recorder()
    driver = run_driver(LcusDriver(host.path, on_status=status, max_backoff=0.1))
    driver.set_energised(True)
    assert wait_until(lambda: sim.states[1])
    host.unplug()
    assert wait_until(lambda: "disconnected" in status.statuses())
    sim.states[1] = False  # the board lost power with the USB cable
    driver.set_energised(False)
    host.replug()
    assert wait_until(lambda: "reconnected" in status.statuses())
    assert wait_until(lambda: sim.history[-1] == SetRelay(1, False))
    assert sim.states[1] is False
