"""``smartstore devices selftest --simulated``: every catalog device, simulator on a pty, real driver.

Each test starts the device's simulator behind a ``PtySimulatorHost``, drives it through its
production driver with the package's own ``selftest`` (weigh/zero/tare, show text, read codes,
pulse relay, read inputs) and reports ``{"device", "protocol", "ok", "checks"}``. It proves the
codecs, drivers and simulators agree end to end on this machine (ptys, pyserial, libosdp).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devices import catalog, registry
from devices.checks import Check, DeviceReport, SelfTest, wait_until
from devices.pty import PtySimulatorHost

__all__ = ["TESTS", "Check", "DeviceReport", "run", "run_one", "wait_until"]

log = logging.getLogger(__name__)


def _package_selftest(spec: catalog.DeviceSpec) -> SelfTest:
    def run_it(report: DeviceReport, url: str, sim: Any) -> None:
        spec.selftest()(report, url, sim)  # imported on first use (libosdp only for osdp)

    return run_it


TESTS: dict[str, SelfTest] = {spec.name: _package_selftest(spec) for spec in catalog.CATALOG}


def run_one(name: str) -> DeviceReport:
    """Run the selftest of simulator ``name``."""
    spec = registry.get(name)
    report = DeviceReport(name, spec.protocol)
    started = time.monotonic()
    try:
        sim = registry.build(name)
        with PtySimulatorHost(sim) as host:
            TESTS[name](report, host.path, registry.inner(sim))
    except Exception as err:  # a selftest reports, it never crashes
        log.exception("selftest of %s crashed", name)
        report.check("run", False, f"{type(err).__name__}: {err}")
    report.seconds = round(time.monotonic() - started, 3)
    return report


def run(names: list[str] | None = None, *, workers: int = 3) -> list[DeviceReport]:
    """Run the selftests of ``names`` (default: every simulator), a few at a time."""
    chosen = names or [spec.name for spec in registry.SIMULATORS]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run_one, chosen))
