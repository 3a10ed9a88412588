"""``devices selftest`` for escpos: lines, a total and the basket screen, against the simulator."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport
from devices.screen import BasketLine, BasketView, basket_lines


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Check show lines, a total and the basket screen on the pole display."""
    from devices.escpos.driver import EscposDriver

    driver = EscposDriver(url, max_backoff=0.2)
    driver.start()
    try:
        if not report.check("connect", driver.wait_online(3)):
            return
        driver.show_lines("Hello", "smartstore")
        report.check("show lines", sim.wait_for_lines(("Hello", "smartstore")), repr(sim.lines))
        driver.show_total("TOTAL", "12.50")
        report.check("show total", sim.wait_for_lines(("TOTAL", " " * 15 + "12.50")), repr(sim.lines))
        view = BasketView((BasketLine("Milk 1L", "1.25"), BasketLine("Bread", "2.40")), "3.65")
        driver.show_basket(view)
        report.check("basket screen", sim.wait_for_lines(basket_lines(view)), repr(sim.lines))
    finally:
        driver.stop()
