"""``devices selftest`` for lcus: starts OFF, pulse ON/OFF and the status query, against its simulator."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport, wait_until


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Check starts OFF, pulse ON/OFF and the status query."""
    from devices.lcus.driver import LcusDriver

    driver = LcusDriver(url, channel=1, max_backoff=0.2)
    driver.start()
    try:
        if not report.check("connect", driver.wait_online(3)):
            return
        report.check("starts OFF", wait_until(lambda: bool(sim.history) and not sim.states[1], 2))
        driver.pulse(0.3)
        report.check("pulse ON", wait_until(lambda: sim.states[1], 2))
        report.check("pulse OFF", wait_until(lambda: not sim.states[1], 2))
        states = driver.query_status().result(3)
        report.check("status query", states.get(1) is False, repr(states))
    finally:
        driver.stop()
