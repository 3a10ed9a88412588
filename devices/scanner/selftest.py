"""``devices selftest`` for scanner: one code read from the scanner, against its simulator."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport, Recorder, wait_until


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Check one code read from the scanner."""
    from devices.scanner.driver import ScannerDriver

    scans = Recorder()
    driver = ScannerDriver(url, on_scan=scans)
    driver.start()
    try:
        if not report.check("connect", driver.wait_online(3)):
            return
        sim.scan("4006381333931")
        report.check(
            "read code",
            wait_until(lambda: scans.find(lambda s: s.text == "4006381333931") is not None, 2),
            repr(scans.items),
        )
    finally:
        driver.stop()
