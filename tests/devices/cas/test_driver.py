"""CAS driver listening to the simulated stream on a pty: settle, zero/tare, silence, unplug."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devices.cas.driver import CasDriver, frame_reading
from devices.cas.profiles import CAS_AND_18, CasProfile
from devices.cas.protocol import CasFrame
from devices.cas.simulator import CasSimulator
from devices.pty import PtySimulatorHost
from devices.scales.settle import ScaleError, SettleRule, WeightStable
from tests.devices.helpers import Recorder, wait_until

FAST = SettleRule(readings=3, min_time_s=0.1, division_g=5.0, motion_timeout_s=0.6)
PROFILE = CasProfile(silence_timeout_s=0.5, command_timeout_s=1.0)
Rig = tuple[CasSimulator, PtySimulatorHost, CasDriver, Recorder, Recorder]


def weights(events: Recorder) -> list[float]:
    """Return the settled weights seen."""
    return [e.grams for e in events.of(WeightStable)]


@pytest.fixture
def rig(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> Rig:
    """Return a streaming indicator at 50 Hz, its host and a running driver."""
    sim = CasSimulator(rate_hz=50)
    host = serve(sim)
    events, status = Recorder(), Recorder()
    driver = run_driver(
        CasDriver(host.path, profile=PROFILE, rule=FAST, on_event=events, on_status=status, max_backoff=0.1)
    )
    return sim, host, driver, events, status


def test_frame_to_reading() -> None:
    assert frame_reading(CasFrame("ST", "NT", 1.5, "kg"), 3.0).grams == 1500.0
    assert frame_reading(CasFrame("OL", "GS", None, "kg"), 3.0).error == "overload"
    assert not frame_reading(CasFrame("US", "GS", 1.0, "kg"), 3.0).stable


def test_stream_settles_without_any_request(rig: Rig) -> None:
    sim, host, _, events, _ = rig
    sim.model.place(1235.0, settle_s=0.1)
    assert wait_until(lambda: 1235.0 in weights(events))
    assert host.received == b""  # the driver only listens


def test_zero_and_tare_through_command_mode(rig: Rig) -> None:
    sim, host, driver, events, _ = rig
    sim.model.place(1000.0, settle_s=0.0)
    assert wait_until(lambda: 1000.0 in weights(events))
    assert driver.tare().result(3) is True
    assert sim.model.tare_g == 1000.0
    assert driver.clear_tare().result(3) is False  # CAS clears a tare only on an empty platter
    sim.model.place(0.0, settle_s=0.0)
    assert driver.clear_tare().result(3) is True
    assert sim.model.tare_g == 0.0
    sim.model.place(20.0, settle_s=0.0)
    assert driver.zero().result(3) is True
    assert host.received.count(b"TR\r\n") == 3
    assert b"ZE\r\n" in host.received


def test_overload_frames(rig: Rig) -> None:
    sim, _, _, events, _ = rig
    sim.overload = True
    assert wait_until(lambda: any(e.kind == "overload" for e in events.of(ScaleError)))


def test_a_silent_stream_counts_as_disconnected(rig: Rig) -> None:
    sim, _, _, _, status = rig
    sim.streaming = False
    assert wait_until(lambda: "disconnected" in status.statuses(), 3)
    sim.streaming = True
    assert wait_until(lambda: "reconnected" in status.statuses(), 3)


def test_unplug_then_replug(rig: Rig) -> None:
    sim, host, _, events, status = rig
    host.unplug()
    assert wait_until(lambda: "disconnected" in status.statuses())
    host.replug()
    assert wait_until(lambda: "reconnected" in status.statuses())
    events.clear()
    sim.model.place(750.0, settle_s=0.0)
    assert wait_until(lambda: 750.0 in weights(events))


def test_and_format_profile(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> None:
    sim = CasSimulator(frame_format="and18", rate_hz=50, decimals=2)
    host = serve(sim)
    events = Recorder()
    run_driver(CasDriver(host.path, profile=CAS_AND_18, rule=FAST, on_event=events, max_backoff=0.1))
    sim.model.place(13500.0, settle_s=0.0)
    assert wait_until(lambda: 13500.0 in weights(events))
