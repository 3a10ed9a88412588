"""The selftest every scale shares: weigh, tare, net zero, clear tare, zero, overload."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from devices.checks import DeviceReport, Recorder, wait_until
from devices.scales.base import SettlingScaleDriver
from devices.scales.settle import ScaleError, SettleRule, WeightStable


def scale_selftest(
    report: DeviceReport, url: str, sim: Any, make: Callable[..., SettlingScaleDriver], load_g: float, division_g: float
) -> None:
    """Weigh, tare, clear the tare, zero and overload a simulated scale through its real driver."""
    events = Recorder()
    driver = make(
        url, rule=SettleRule(readings=3, min_time_s=0.2, division_g=division_g), on_event=events, max_backoff=0.2
    )
    driver.start()
    try:
        if not report.check("connect", driver.wait_online(3)):
            return

        def weight_near(grams: float) -> Callable[[], bool]:
            return lambda: (
                events.find(lambda e: isinstance(e, WeightStable) and abs(e.grams - grams) <= division_g) is not None
            )

        sim.model.place(load_g, 0.2)
        got = wait_until(weight_near(load_g), 3)
        report.check("weigh", got, f"settled {events.find(lambda e: isinstance(e, WeightStable))}")
        report.check("tare", driver.tare().result(5))
        events.clear()
        report.check(
            "net zero after tare",
            wait_until(
                lambda: (
                    events.find(lambda e: isinstance(e, WeightStable) and e.net and abs(e.grams) <= division_g)
                    is not None
                ),
                3,
            ),
        )
        sim.model.place(0.0, 0.1)
        time.sleep(0.3)
        report.check("clear tare", driver.clear_tare().result(5))
        report.check("zero", driver.zero().result(5))
        sim.model.overload = True
        report.check(
            "overload reported",
            wait_until(
                lambda: events.find(lambda e: isinstance(e, ScaleError) and e.kind == "overload") is not None, 3
            ),
        )
        sim.model.overload = False
    finally:
        driver.stop()
