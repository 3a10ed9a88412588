"""``devices selftest`` for wiegand: a card (4-bit keypads only) and a PIN ending in #, against its simulator."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport, Recorder, wait_until


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Check a card (4-bit keypads only) and a PIN ending in #."""
    from devices.wiegand.driver import WiegandDriver

    cards, pins = Recorder(), Recorder()
    driver = WiegandDriver(url, on_card=cards, on_pin=pins, max_backoff=0.2)
    driver.start()
    try:
        if not report.check("connect", driver.wait_online(3)):
            return
        if sim.key_bits == 4:
            sim.card(101, 4095)
            report.check(
                "card FC 101 / 4095",
                wait_until(lambda: cards.find(lambda c: (c.facility, c.card) == (101, 4095)) is not None, 2),
                repr(cards.items),
            )
        sim.keys("2468#")
        report.check(
            "PIN with #", wait_until(lambda: pins.find(lambda p: p == "2468") is not None, 2), repr(pins.items)
        )
    finally:
        driver.stop()
