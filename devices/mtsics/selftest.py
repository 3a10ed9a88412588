"""``devices selftest`` for the MT-SICS scale: the shared scale checks with a 123.45 g load at 0.01 g division."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport
from devices.scales.selftest import scale_selftest


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Drive the simulated MT-SICS scale at ``url`` through ``MtSicsDriver``."""
    from devices.mtsics.driver import MtSicsDriver

    scale_selftest(report, url, sim, MtSicsDriver, 123.45, 0.01)
