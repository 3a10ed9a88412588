"""Fixtures of the device tests: simulators on ptys that are always stopped, drivers too."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devices.driver import DriverThread
from devices.pty import PtySimulatorHost, Simulator


@pytest.fixture
def serve() -> Iterator[Callable[[Simulator], PtySimulatorHost]]:
    """Start simulators on ptys; every one is stopped after the test."""
    hosts: list[PtySimulatorHost] = []

    def start(simulator: Simulator) -> PtySimulatorHost:
        host = PtySimulatorHost(simulator).start()
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.stop()


@pytest.fixture
def run_driver() -> Iterator[Callable[[Any], Any]]:
    """Start drivers; every one is stopped after the test (even when the test fails)."""
    drivers: list[DriverThread] = []

    def start(driver: Any) -> Any:
        drivers.append(driver)
        driver.start()
        assert driver.wait_online(5), f"{driver.name} did not come online"
        return driver

    yield start
    for driver in drivers:
        driver.stop()
