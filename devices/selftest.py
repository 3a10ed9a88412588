"""``smartstore devices selftest --simulated``: every device kind, simulator on a pty, real driver.

Each test starts the kind's simulator behind a ``PtySimulatorHost``, drives it through its
production driver (weigh/zero/tare, show text, read codes, pulse relay, read inputs) and
reports ``{"device", "protocol", "ok", "checks"}``. It proves the codecs, drivers and
simulators agree end to end on this machine (ptys, pyserial, libosdp).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from devices import registry
from devices.pty import PtySimulatorHost
from devices.scales.base import SettlingScaleDriver
from devices.scales.settle import ScaleError, SettleRule, WeightStable
from devices.screen import BasketLine, BasketView, basket_lines

log = logging.getLogger(__name__)


@dataclass
class Check:
    """One named check and its outcome."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class DeviceReport:
    """The selftest result of one device kind."""

    device: str
    protocol: str
    ok: bool = True
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record a check; the device fails if any check fails."""
        self.checks.append(Check(name, bool(ok), detail))
        self.ok = self.ok and bool(ok)
        return bool(ok)

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain JSON data."""
        return asdict(self)


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll ``predicate`` every 10 ms until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class _Recorder:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, *args: Any) -> None:
        with self.lock:
            self.items.append(args[0] if len(args) == 1 else args)

    def find(self, predicate: Callable[[Any], bool]) -> Any:
        with self.lock:
            return next((i for i in reversed(self.items) if predicate(i)), None)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


# ---------------------------------------------------------------- scales
def _scale(
    report: DeviceReport, url: str, sim: Any, make: Callable[..., SettlingScaleDriver], load_g: float, division_g: float
) -> None:
    events = _Recorder()
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


def _mtsics(report: DeviceReport, url: str, sim: Any) -> None:
    from devices.mtsics.driver import MtSicsDriver

    _scale(report, url, sim, MtSicsDriver, 123.45, 0.01)


def _toledo8217(report: DeviceReport, url: str, sim: Any) -> None:
    from devices.toledo8217.driver import Toledo8217Driver

    _scale(report, url, sim, Toledo8217Driver, 1235.0, 5.0)


def _cas(report: DeviceReport, url: str, sim: Any) -> None:
    from devices.cas.driver import CasDriver

    _scale(report, url, sim, CasDriver, 1235.0, 5.0)


# ---------------------------------------------------------------- displays
def _escpos(report: DeviceReport, url: str, sim: Any) -> None:
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


def _nextion(report: DeviceReport, url: str, sim: Any) -> None:
    from devices.nextion.driver import NextionDriver

    chosen = _Recorder()
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


# ---------------------------------------------------------------- readers
def _scanner(report: DeviceReport, url: str, sim: Any) -> None:
    from devices.scanner.driver import ScannerDriver

    scans = _Recorder()
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


def _wiegand(report: DeviceReport, url: str, sim: Any) -> None:
    from devices.wiegand.driver import WiegandDriver

    cards, pins = _Recorder(), _Recorder()
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


def _osdp(report: DeviceReport, url: str, sim: Any) -> None:
    from devices.osdp.driver import OsdpDriver
    from devices.osdp.profiles import TEST_SCBK, OsdpProfile

    cards = _Recorder()
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


# ---------------------------------------------------------------- locks
def _lcus(report: DeviceReport, url: str, sim: Any) -> None:
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


def _modbus(report: DeviceReport, url: str, sim: Any) -> None:
    from devices.modbus.driver import ModbusDriver

    inputs = _Recorder()
    driver = ModbusDriver(url, on_inputs=inputs, max_backoff=0.2)
    driver.start()
    try:
        if not report.check("connect", driver.wait_online(3)):
            return
        sim.set_input(0, True)
        report.check(
            "read inputs", wait_until(lambda: inputs.find(lambda bits: bits[0]) is not None, 2), repr(inputs.items[-1:])
        )
        driver.pulse(0.3)
        report.check("pulse ON", wait_until(lambda: sim.coils[0], 2))
        report.check("coil read back", wait_until(lambda: driver.coil_sensed is True, 2))
        report.check("pulse OFF", wait_until(lambda: not sim.coils[0], 2))
    finally:
        driver.stop()


TESTS: dict[str, Callable[[DeviceReport, str, Any], None]] = {
    "mtsics": _mtsics,
    "toledo8217": _toledo8217,
    "cas": _cas,
    "escpos": _escpos,
    "nextion": _nextion,
    "scanner": _scanner,
    "wiegand": _wiegand,
    "keypad": _wiegand,
    "osdp": _osdp,
    "lcus": _lcus,
    "modbus": _modbus,
}


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
