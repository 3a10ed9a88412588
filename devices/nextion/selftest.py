"""``devices selftest`` for nextion: text, choices, a touch and a read-back, against the simulator."""

from __future__ import annotations

from typing import Any

from devices.checks import DeviceReport, Recorder, wait_until


def selftest(report: DeviceReport, url: str, sim: Any) -> None:
    """Check text, the choices page, a touch and a read-back on the Nextion."""
    from devices.nextion.driver import NextionDriver

    chosen = Recorder()
    driver = NextionDriver(url, on_choice=chosen, max_backoff=0.2)
    driver.start()
    try:
        if not report.check("connect", driver.wait_online(3)):
            return
        driver.show_message("Welcome", "Scan your items").result(3)
        report.check("show text", sim.value("t0", page="home") == "Welcome", repr(sim.value("t0", page="home")))
        driver.show_choices(["Apple", "Pear", "Banana"]).result(3)
        report.check("choices page", sim.page.name == "choices" and sim.value("b2") == "Banana")
        sim.touch("b1")
        report.check(
            "touch picks a choice",
            wait_until(lambda: chosen.find(lambda c: c == (1, "Pear")) is not None, 2),
            repr(chosen.items),
        )
        replies = driver.get_text("b0").result(3)
        report.check("read back text", getattr(replies[0], "text", None) == "Apple", repr(replies))
    finally:
        driver.stop()
