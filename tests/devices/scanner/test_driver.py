"""Scanner driver with the simulated scanner on a pty: scans, debounce, garbage, unplug."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from devices.pty import PtySimulatorHost
from devices.scanner.driver import ScannerDriver
from devices.scanner.simulator import ScannerSimulator
from tests.devices.helpers import Recorder, wait_until


def test_scans_debounce_and_garbage(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> None:
    sim = ScannerSimulator()
    host = serve(sim)
    scans, garbage = Recorder(), Recorder()
    run_driver(ScannerDriver(host.path, debounce_s=0.5, on_scan=scans, on_garbage=garbage))
    sim.scan("4006381333931")
    sim.scan("4006381333931")  # the same code twice at once: one scan
    sim.inject(b"\x8f\xfe\xfd\r\n")
    sim.scan("5449000000996")
    assert wait_until(lambda: [s.text for s in scans.items] == ["4006381333931", "5449000000996"])
    assert wait_until(lambda: len(garbage.items) == 1)
    time.sleep(0.5)
    sim.scan("4006381333931")  # after the debounce window it counts again
    assert wait_until(lambda: len(scans.items) == 3)


def test_unplug_then_replug(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> None:
    sim = ScannerSimulator()
    host = serve(sim)
    scans, status = Recorder(), Recorder()
    run_driver(ScannerDriver(host.path, on_scan=scans, on_status=status))
    host.unplug()
    assert wait_until(lambda: "disconnected" in status.statuses())
    host.replug()
    assert wait_until(lambda: "reconnected" in status.statuses())
    sim.scan("AFTER-REPLUG")
    assert wait_until(lambda: [s.text for s in scans.items] == ["AFTER-REPLUG"])
