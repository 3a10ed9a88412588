"""``smartstore bench devices``: weight latency, line overhead and screen render time, measured.

Every figure comes from a simulator on a pty driven by the production driver on this machine.
Scales: time from a weight change in the simulator to (a) the first stable reading the driver
decodes and (b) the ``WeightStable`` event after the settle rule, plus the traffic the protocol
costs while idle. Displays: time from the driver call to the simulator showing the whole basket
screen, and the bytes such a screen costs on a real 9600-baud line.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from devices import catalog, registry
from devices.pty import PtySimulatorHost
from devices.scales.base import SettlingScaleDriver
from devices.scales.settle import Reading, WeightStable
from devices.screen import BasketLine, BasketView, basket_lines
from devices.toledo8217.profiles import ODOO_REFERENCE_MS
from smartstore.bench.stats import median, percentile


def _summary(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    if not ms:
        return {}
    return {
        "median": round(median(ms), 1),
        "p99": round(percentile(ms, 99), 1),
        "min": round(ms[0], 1),
        "max": round(ms[-1], 1),
        "n": len(ms),
    }


def _scale_driver(name: str, url: str) -> SettlingScaleDriver:
    driver: SettlingScaleDriver = catalog.get(name).driver_class()(url, max_backoff=0.2)
    return driver


def bench_scale(name: str, trials: int = 20, idle_s: float = 2.0, trial_seed: int = 7) -> dict[str, Any]:
    """Measure one scale protocol with its default profile and settle rule."""
    sim: Any = registry.build(name)
    with PtySimulatorHost(sim) as host:
        driver = _scale_driver(name, host.path)
        division = driver.settler.rule.division_g
        settled: list[WeightStable] = []
        readings: list[Reading] = []
        cond = threading.Condition()

        def on_weight(weight: WeightStable) -> None:
            with cond:
                settled.append(weight)
                cond.notify_all()

        def on_reading(reading: Reading) -> None:
            with cond:
                readings.append(reading)
                cond.notify_all()

        driver.on_weight = on_weight
        driver.on_reading = on_reading
        driver.start()
        try:
            if not driver.wait_online(5):
                return {"protocol": driver.protocol_name, "error": "simulator did not come online"}
            with cond:
                cond.wait_for(lambda: bool(settled), 5)
            rng = random.Random(f"{name}-{trial_seed}")
            to_settle: list[float] = []
            to_reading: list[float] = []
            misses = 0
            for trial in range(trials):
                # alternate well-separated loads (a change of one division is "the same weight")
                target = 1000.0 + 250.0 * (trial % 2) + 10.0 * trial
                time.sleep(rng.uniform(0, max(driver.poll_interval, 0.1)))  # random phase vs. the poll
                with cond:
                    settled.clear()
                    readings.clear()
                start = time.monotonic()
                sim.model.place(target, 0.0)
                with cond:

                    def matching(t: float = target) -> list[Reading]:
                        return [
                            r for r in readings if r.stable and r.grams is not None and abs(r.grams - t) <= division / 2
                        ]

                    def settled_at(t: float = target) -> bool:
                        return any(abs(w.grams - t) <= division / 2 for w in settled)

                    if cond.wait_for(lambda: bool(matching()), 3):
                        to_reading.append(matching()[0].at - start)
                    got = cond.wait_for(settled_at, 5)
                if got:
                    to_settle.append(time.monotonic() - start)
                else:
                    misses += 1
            before_polls, before_rx, before_tx = driver.stats.polls, len(host.received), host.bytes_sent
            time.sleep(idle_s)
            polls = driver.stats.polls - before_polls
            to_scale = len(host.received) - before_rx
            from_scale = host.bytes_sent - before_tx
        finally:
            driver.stop()
    rule = driver.settler.rule
    return {
        "protocol": driver.protocol_name,
        "simulator": name,
        "line": driver.link.settings.describe(),
        "poll_interval_ms": round(driver.poll_interval * 1000, 1) if driver.poll_interval else None,
        "settle_rule": {
            "readings": rule.readings,
            "min_time_ms": rule.min_time_s * 1000,
            "division_g": rule.division_g,
        },
        "first_stable_reading_ms": _summary(to_reading),
        "weight_change_to_stable_event_ms": _summary(to_settle),
        "missed": misses,
        "overhead": {
            "polls_or_frames_per_s": round(polls / idle_s, 1),
            "bytes_per_s_to_scale": round(to_scale / idle_s, 1),
            "bytes_per_s_from_scale": round(from_scale / idle_s, 1),
            "busiest_direction_load_pct_at_baud": round(
                100 * max(to_scale, from_scale) / idle_s * 10 / driver.link.settings.baudrate, 2
            ),
        },
        "odoo_reference_ms": ODOO_REFERENCE_MS,
        "odoo_reference_note": "Odoo reads each weight until a 1 s read timeout, then waits 0.2 s before the next poll",
    }


def _views(count: int) -> list[BasketView]:
    views = []
    for i in range(count):
        lines = tuple(BasketLine(f"Product {j} {'x' * (j % 7)}", f"{1 + j * 0.35:.2f}") for j in range(i % 5 + 1))
        views.append(BasketView(lines, f"{sum(float(str(line.price)) for line in lines):.2f}"))
    return views


def bench_escpos(trials: int = 30) -> dict[str, Any]:
    """Measure the time to render a full 2×20 basket screen on the pole display."""
    from devices.escpos.driver import EscposDriver
    from devices.escpos.protocol import encode_all, show_lines

    sim: Any = registry.build("escpos")
    samples: list[float] = []
    with PtySimulatorHost(sim) as host:
        driver = EscposDriver(host.path, max_backoff=0.2)
        driver.start()
        try:
            driver.wait_online(5)
            for view in _views(trials):
                start = time.monotonic()
                driver.show_basket(view)
                if sim.wait_for_lines(basket_lines(view), 3):
                    samples.append(time.monotonic() - start)
        finally:
            driver.stop()
    screen_bytes = len(encode_all(show_lines(*basket_lines(_views(1)[0]))))
    return {
        "display": "escpos",
        "render_basket_screen_ms": _summary(samples),
        "screen_bytes": screen_bytes,
        "wire_ms_at_9600_8n1": round(screen_bytes * 10 / 9600 * 1000, 1),
    }


def bench_nextion(trials: int = 30) -> dict[str, Any]:
    """Measure the time to render (and have acknowledged) a full basket page on the Nextion."""
    from devices.nextion.driver import NextionDriver

    sim: Any = registry.build("nextion")
    samples: list[float] = []
    sent_before = 0
    with PtySimulatorHost(sim) as host:
        driver = NextionDriver(host.path, max_backoff=0.2)
        driver.start()
        try:
            driver.wait_online(5)
            for view in _views(trials):
                sent_before = len(host.received)
                start = time.monotonic()
                driver.show_basket(view).result(3)
                samples.append(time.monotonic() - start)
            screen_bytes = len(host.received) - sent_before
        finally:
            driver.stop()
    return {
        "display": "nextion",
        "render_basket_screen_acked_ms": _summary(samples),
        "screen_bytes": screen_bytes,
        "wire_ms_at_9600_8n1": round(screen_bytes * 10 / 9600 * 1000, 1),
    }


def run(trials: int = 20, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every device benchmark and return the JSON document."""
    say = progress or (lambda message: None)
    scales = []
    for name in [spec.name for spec in catalog.of_kind("scale")]:
        say(f"scale {name}")
        scales.append(bench_scale(name, trials))
    say("display escpos")
    escpos = bench_escpos(trials)
    say("display nextion")
    nextion = bench_nextion(trials)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "bench": "devices",
        "machine": {"cpus": os.cpu_count(), "loadavg_1m": round(load[0], 2), "transport": "pty (no baud emulation)"},
        "scales": scales,
        "displays": [escpos, nextion],
    }
