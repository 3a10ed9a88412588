"""``devices selftest`` for osdp: the secure channel, a card and an output command, against its simulator."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport, Recorder, wait_until


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Check the secure channel, a card and an output command."""
    from devices.osdp.driver import OsdpDriver
    from devices.osdp.profiles import TEST_SCBK, OsdpProfile

    cards = Recorder()
    driver = OsdpDriver(url, profile=OsdpProfile(scbk=TEST_SCBK), on_card=cards, max_backoff=0.2)
    driver.start()
    try:
        if not report.check("connect", driver.wait_online(3)):
            return
        report.check("secure channel", wait_until(lambda: driver.pd_status.secure, 5), repr(driver.pd_status))
        sim.card(101, 4095)
        report.check(
            "card FC 101 / 4095",
            wait_until(lambda: cards.find(lambda c: getattr(c, "card", None) == 4095) is not None, 3),
            repr(cards.items),
        )
        driver.output(0, True)
        report.check("output command", wait_until(lambda: sim.outputs.get(0) is True, 3), repr(sim.outputs))
    finally:
        driver.stop()
