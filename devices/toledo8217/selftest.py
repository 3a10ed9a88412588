"""``devices selftest`` for the Toledo 8217 scale: the shared scale checks with a 1235 g load at 5 g division."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport
from devices.scales.selftest import scale_selftest


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Drive the simulated Toledo 8217 scale at ``url`` through ``Toledo8217Driver``."""
    from devices.toledo8217.driver import Toledo8217Driver

    scale_selftest(report, url, sim, Toledo8217Driver, 1235.0, 5.0)
