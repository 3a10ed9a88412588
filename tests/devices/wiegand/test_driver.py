"""Wiegand driver with the simulated converter on a pty: cards, PINs (4- and 8-bit keys), faults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devices.pty import PtySimulatorHost
from devices.wiegand.driver import WiegandDriver
from devices.wiegand.profiles import WIE232
from devices.wiegand.protocol import CardRead, Garbage, ParityError, PinAbandoned
from devices.wiegand.simulator import WiegandSimulator
from tests.devices.helpers import Recorder, wait_until


def start(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any], sim: WiegandSimulator, **kwargs: Any
) -> tuple[PtySimulatorHost, dict[str, Recorder]]:
    """Serve ``sim`` and run a driver recording every callback."""
    host = serve(sim)
    rec = {name: Recorder() for name in ("card", "pin", "key", "pin_event", "error", "status")}
    callbacks: dict[str, Any] = {f"on_{n}": r for n, r in rec.items()}
    run_driver(WiegandDriver(host.path, max_backoff=0.1, **callbacks, **kwargs))
    return host, rec


def test_card_and_pin_with_4_bit_keys(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = WiegandSimulator()
    _, rec = start(serve, run_driver, sim)
    sim.card(101, 4095)
    sim.keys("12*4321#")
    assert wait_until(lambda: rec["card"].items == [CardRead(26, 101, 4095)])
    assert wait_until(lambda: rec["pin"].items == ["4321"])
    assert rec["pin_event"].items[0] == PinAbandoned("cleared", 2)
    assert len(rec["key"].items) == 8


def test_pin_with_8_bit_keys_and_wie232_cards(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = WiegandSimulator(WIE232.format, key_bits=8)
    _, rec = start(serve, run_driver, sim, profile=WIE232)
    sim.keys("98765#")
    sim.card(7, 7)
    assert wait_until(lambda: rec["pin"].items == ["98765"])
    assert wait_until(lambda: rec["card"].items == [CardRead(26, 7, 7)])


def test_bad_parity_and_garbage_reach_on_error(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = WiegandSimulator()
    _, rec = start(serve, run_driver, sim)
    sim.bad_parity = True
    sim.card(101, 4095)
    sim.inject(b"\x00\x99zz\r\n")
    assert wait_until(lambda: len(rec["error"].items) == 2)
    assert isinstance(rec["error"].items[0], ParityError)
    assert isinstance(rec["error"].items[1], Garbage)
    assert rec["card"].items == []


def test_repeated_card_is_debounced(serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]) -> None:
    sim = WiegandSimulator()
    _, rec = start(serve, run_driver, sim)
    for _ in range(3):
        sim.card(1, 2)
    sim.card(1, 3)
    assert wait_until(lambda: [c.card for c in rec["card"].items] == [2, 3])


def test_unplug_then_replug_forgets_a_half_typed_pin(
    serve: Callable[[Any], PtySimulatorHost], run_driver: Callable[[Any], Any]
) -> None:
    sim = WiegandSimulator()
    host, rec = start(serve, run_driver, sim)
    sim.keys("12")
    assert wait_until(lambda: len(rec["key"].items) == 2)
    host.unplug()
    assert wait_until(lambda: "disconnected" in rec["status"].statuses())
    host.replug()
    assert wait_until(lambda: "reconnected" in rec["status"].statuses())
    sim.keys("3456#")
    assert wait_until(lambda: rec["pin"].items == ["3456"])
