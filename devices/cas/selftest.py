"""``devices selftest`` for the CAS scale: the shared scale checks with a 1235 g load at 5 g division."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport
from devices.scales.selftest import scale_selftest


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Drive the simulated CAS scale at ``url`` through ``CasDriver``."""
    from devices.cas.driver import CasDriver

    scale_selftest(report, url, sim, CasDriver, 1235.0, 5.0)
