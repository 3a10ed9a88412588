"""Toledo 8217 driver against the simulated scale on a pty: Ehello, W polling, Z/T/C, faults, unplug."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devices.faults import FaultPlan, FaultySimulator
from devices.pty import PtySimulatorHost
from devices.scales.settle import ScaleError, SettleRule, WeightStable
from devices.toledo8217.driver import Toledo8217Driver
from devices.toledo8217.profiles import Toledo8217Profile
from devices.toledo8217.simulator import Toledo8217Simulator
from tests.devices.helpers import Recorder, wait_until

FAST = SettleRule(readings=3, min_time_s=0.1, division_g=5.0, motion_timeout_s=0.6)
PROFILE = Toledo8217Profile(poll_interval_s=0.02, reply_timeout_s=0.3, command_timeout_s=1.0)
Rig = tuple[Toledo8217Simulator, PtySimulatorHost, Toledo8217Driver, Recorder, Recorder]


def weights(events: Recorder) -> list[float]:
    """Return the settled weights seen."""
    return [e.grams for e in events.of(WeightStable)]


@pytest.fixture
def rig(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> Rig:
    """Return the simulated scale, its host, a running driver, its events and statuses."""
    sim = Toledo8217Simulator(command_delay_s=0.05)
    host = serve(sim)
    events, status = Recorder(), Recorder()
    driver = run_driver(
        Toledo8217Driver(host.path, profile=PROFILE, rule=FAST, on_event=events, on_status=status, max_backoff=0.1)
    )
    return sim, host, driver, events, status


def test_handshake_uses_the_ehello_echo(rig: Rig) -> None:
    _, host, driver, _, _ = rig
    assert wait_until(lambda: driver.echo_ok is True)
    assert host.received.startswith(b"EhelloF")


def test_polls_w_and_settles_in_grams(rig: Rig) -> None:
    sim, host, _, events, _ = rig
    sim.model.place(1235.0, settle_s=0.1)
    assert wait_until(lambda: 1235.0 in weights(events))
    assert host.received.count(b"W") >= 3


def test_motion_status_frames_are_not_weights(rig: Rig) -> None:
    sim, _, _, events, _ = rig
    sim.unstable = True
    sim.model.place(900.0, settle_s=0.0)
    assert wait_until(lambda: any(e.kind == "motion_timeout" for e in events.of(ScaleError)))
    assert 900.0 not in weights(events)


def test_over_capacity_and_under_zero(rig: Rig) -> None:
    sim, _, _, events, _ = rig
    sim.overload = True
    assert wait_until(lambda: any(e.kind == "overload" for e in events.of(ScaleError)))
    sim.overload = False
    sim.model.place(-50.0, settle_s=0.0)
    assert wait_until(lambda: any(e.kind == "negative" for e in events.of(ScaleError)))


def test_tare_net_clear_zero(rig: Rig) -> None:
    sim, host, driver, events, _ = rig
    sim.model.place(400.0, settle_s=0.0)
    assert wait_until(lambda: 400.0 in weights(events))
    assert driver.tare().result(3) is True
    assert wait_until(lambda: any(e.net and e.grams == 0.0 for e in events.of(WeightStable)))
    assert driver.zero().result(3) is False  # zero is captured in gross mode only
    assert driver.clear_tare().result(3) is True
    sim.model.place(10.0, settle_s=0.0)
    assert driver.zero().result(3) is True
    assert sim.model.zero_offset_g == 10.0
    assert b"T" in host.received
    assert b"C" in host.received
    assert b"Z" in host.received


def test_unplug_then_replug(rig: Rig) -> None:
    sim, host, driver, events, status = rig
    host.unplug()
    assert wait_until(lambda: "disconnected" in status.statuses())
    host.replug()
    assert wait_until(lambda: "reconnected" in status.statuses())
    assert wait_until(lambda: driver.echo_ok is True)
    events.clear()
    sim.model.place(250.0, settle_s=0.0)
    assert wait_until(lambda: 250.0 in weights(events))


def test_delayed_replies_within_the_timeout_still_work(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = Toledo8217Simulator(command_delay_s=0.05)
    host = serve(FaultySimulator(sim, FaultPlan(delay_s=0.1)))
    events = Recorder()
    run_driver(Toledo8217Driver(host.path, profile=PROFILE, rule=FAST, on_event=events, max_backoff=0.1))
    sim.model.place(100.0, settle_s=0.0)
    assert wait_until(lambda: 100.0 in weights(events), 5)


def test_silent_scale_is_reported_disconnected(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    host = serve(FaultySimulator(Toledo8217Simulator(), FaultPlan(drop_ratio=1.0)))
    status = Recorder()
    driver = run_driver(Toledo8217Driver(host.path, profile=PROFILE, rule=FAST, on_status=status, max_backoff=0.1))
    assert wait_until(lambda: "disconnected" in status.statuses(), 5)
    assert driver.echo_ok is False
