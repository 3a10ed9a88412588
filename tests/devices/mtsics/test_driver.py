"""MT-SICS driver against the simulated balance on a pty: weigh, zero, tare, faults, unplug."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from devices.faults import FaultPlan, FaultySimulator
from devices.mtsics.driver import MtSicsDriver
from devices.mtsics.profiles import MtSicsProfile
from devices.mtsics.simulator import MtSicsSimulator
from devices.pty import PtySimulatorHost
from devices.scales.settle import ScaleError, SettleRule, WeightStable
from tests.devices.helpers import Recorder, wait_until

FAST = SettleRule(readings=3, min_time_s=0.1, division_g=0.01, motion_timeout_s=0.6)
PROFILE = MtSicsProfile(poll_interval_s=0.02, reply_timeout_s=0.3, command_timeout_s=2.0)


def weights(events: Recorder) -> list[float]:
    """Return the settled weights seen."""
    return [e.grams for e in events.of(WeightStable)]


@pytest.fixture
def scale(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> tuple[MtSicsSimulator, PtySimulatorHost, MtSicsDriver, Recorder]:
    """Return a simulated balance on a pty and a running driver recording every event."""
    sim = MtSicsSimulator(stable_timeout_s=0.5)
    host = serve(sim)
    events = Recorder()
    status = Recorder()
    driver = MtSicsDriver(host.path, profile=PROFILE, rule=FAST, on_event=events, on_status=status, max_backoff=0.1)
    driver.status_log = status  # type: ignore[attr-defined]
    run_driver(driver)
    return sim, host, driver, events


def test_settled_weight_reaches_on_weight_in_grams(
    scale: tuple[MtSicsSimulator, PtySimulatorHost, MtSicsDriver, Recorder],
) -> None:
    sim, _, driver, events = scale
    sim.model.place(123.45, settle_s=0.1)
    assert wait_until(lambda: 123.45 in weights(events))
    assert driver.settled is not None
    assert driver.settled.grams == pytest.approx(123.45)
    assert driver.serial_number == sim.serial_number


def test_weight_in_motion_is_not_accepted_until_settled(
    scale: tuple[MtSicsSimulator, PtySimulatorHost, MtSicsDriver, Recorder],
) -> None:
    sim, _, _, events = scale
    wait_until(lambda: bool(weights(events)))  # the empty platter settles first
    events.clear()
    sim.model.place(500.0, settle_s=0.4)
    time.sleep(0.25)
    assert weights(events) == []  # still moving: readings are "S D"
    assert wait_until(lambda: weights(events) == [500.0])


def test_tare_then_net_weight_then_clear_and_zero(
    scale: tuple[MtSicsSimulator, PtySimulatorHost, MtSicsDriver, Recorder],
) -> None:
    sim, _, driver, events = scale
    sim.model.place(50.0, settle_s=0.0)
    assert wait_until(lambda: 50.0 in weights(events))
    assert driver.tare().result(3) is True
    assert sim.model.tare_g == pytest.approx(50.0)
    events.clear()
    assert wait_until(lambda: any(e.net and e.grams == 0.0 for e in events.of(WeightStable)))
    assert driver.clear_tare().result(3) is True
    assert sim.model.tare_g == 0.0
    sim.model.place(0.05, settle_s=0.0)
    assert driver.zero().result(3) is True
    assert sim.model.zero_offset_g == pytest.approx(0.05)


def test_zero_out_of_range_is_refused(
    scale: tuple[MtSicsSimulator, PtySimulatorHost, MtSicsDriver, Recorder],
) -> None:
    sim, _, driver, _ = scale
    sim.model.place(3000.0, settle_s=0.0)  # far above 2 % of capacity
    assert driver.zero().result(3) is False


def test_unstable_fault_gives_no_weight_and_a_motion_timeout(
    scale: tuple[MtSicsSimulator, PtySimulatorHost, MtSicsDriver, Recorder],
) -> None:
    sim, _, driver, events = scale
    sim.unstable = True
    sim.model.place(80.0, settle_s=0.0)
    assert wait_until(lambda: any(e.kind == "motion_timeout" for e in events.of(ScaleError)))
    assert 80.0 not in weights(events)
    assert driver.tare().result(3) is False  # "T" waits for stability, then "T I"


def test_overload_is_an_error_event(
    scale: tuple[MtSicsSimulator, PtySimulatorHost, MtSicsDriver, Recorder],
) -> None:
    sim, _, _, events = scale
    sim.overload = True
    assert wait_until(lambda: any(e.kind == "overload" for e in events.of(ScaleError)))


def test_unsolicited_lines_do_not_stop_weighing(
    scale: tuple[MtSicsSimulator, PtySimulatorHost, MtSicsDriver, Recorder],
) -> None:
    sim, host, _, events = scale
    for _ in range(5):
        host.send(b'I4 A "B123456789"\r\n\x00\xff\x13garbage')
        time.sleep(0.02)
    sim.model.place(7.5, settle_s=0.0)
    assert wait_until(lambda: 7.5 in weights(events))


def test_weighs_through_a_line_full_of_garbage(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = FaultySimulator(MtSicsSimulator(), FaultPlan(garbage_every_s=0.01, garbage_bytes=3))
    host = serve(sim)
    events = Recorder()
    run_driver(MtSicsDriver(host.path, profile=PROFILE, rule=FAST, on_event=events, max_backoff=0.1))
    sim.inner.model.place(66.6, settle_s=0.0)  # type: ignore[attr-defined]
    assert wait_until(lambda: 66.6 in weights(events), 5)
    assert sim.garbage_sent > 0


def test_unplug_reports_offline_and_replug_weighs_again(
    scale: tuple[MtSicsSimulator, PtySimulatorHost, MtSicsDriver, Recorder],
) -> None:
    sim, host, driver, events = scale
    status: Recorder = driver.status_log  # type: ignore[attr-defined]
    host.unplug()
    assert wait_until(lambda: "disconnected" in status.statuses())
    assert any(e.kind == "offline" for e in events.of(ScaleError))
    assert driver.zero().result(1) is False  # no command while offline
    host.replug()
    assert wait_until(lambda: "reconnected" in status.statuses())
    events.clear()
    sim.model.place(12.34, settle_s=0.0)
    assert wait_until(lambda: 12.34 in weights(events))


def test_silent_balance_is_reported_disconnected(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    host = serve(FaultySimulator(MtSicsSimulator(), FaultPlan(drop_ratio=1.0)))
    status = Recorder()
    run_driver(MtSicsDriver(host.path, profile=PROFILE, rule=FAST, on_status=status, max_backoff=0.1))
    assert wait_until(lambda: "disconnected" in status.statuses(), 5)


def test_stable_weigh_command_profile(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = MtSicsSimulator()
    host = serve(sim)
    events = Recorder()
    profile = MtSicsProfile(weigh_command="S", poll_interval_s=0.02, reply_timeout_s=0.3, command_timeout_s=2.0)
    run_driver(MtSicsDriver(host.path, profile=profile, rule=FAST, on_event=events, max_backoff=0.1))
    sim.model.place(42.0, settle_s=0.2)
    assert wait_until(lambda: 42.0 in weights(events))
    assert b"SI\r\n" not in host.received
