"""The driver thread: a crashing driver is reopened, not lost; stop is quiet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devices.driver import DriverThread
from devices.errors import FrameError
from devices.pty import PtySimulatorHost
from tests.devices.helpers import Recorder, wait_until


class Quiet:
    """A simulator that never talks."""

    def receive_data(self, data: bytes) -> bytes:
        """Say nothing."""
        return b""

    def poll(self, now: float) -> bytes:
        """Say nothing."""
        return b""


class Flaky(DriverThread):
    """A driver whose first services fail in two different ways."""

    def __init__(self, url: str, status: Recorder) -> None:
        """Prepare the driver."""
        super().__init__(url, name="flaky", on_status=status, max_backoff=0.05)
        self.calls = 0
        self.connects = 0

    def on_connected(self) -> None:
        """Count connects."""
        self.connects += 1

    def service(self) -> None:
        """Fail with a device error, then a bug, then idle."""
        self.calls += 1
        if self.calls == 1:
            raise FrameError("device sent nonsense")
        if self.calls == 2:
            raise ZeroDivisionError
        self.link.read()


def test_errors_reopen_the_port_and_report_it(serve: Callable[[Any], PtySimulatorHost]) -> None:
    host = serve(Quiet())
    status = Recorder()
    driver = Flaky(host.path, status)
    driver.start()
    try:
        assert wait_until(lambda: driver.connects == 3, 3)
        assert status.statuses() == ["connected", "disconnected", "reconnected", "disconnected", "reconnected"]
    finally:
        driver.stop()
    assert status.statuses()[-1] == "reconnected"  # stopping is not an unplug
