"""Build the store's device drivers from the settings (the device half of the composition root).

Every configured device names its catalog entry (``type``); the driver class, its line
settings and what it can do (``traits``) come from ``devices.catalog``, and the device's own
options from its config model (``driver_options``). Nothing here starts a driver: the
bootstraps wire the callbacks (``submit``, ``status``) and start them in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from contracts.staff import card_text
from devices import catalog
from devices.config import DeviceConfig
from devices.driver import DriverThread
from devices.scanner.profiles import GENERIC_CRLF, ScannerConfig
from devices.scanner.protocol import CodeScanned, Garbage
from devices.wiegand.protocol import CardRead
from edge_agent.adapters.checkout_io import NextionScreen, PoleScreen, Screen
from edge_agent.config import InputsConfig
from edge_agent.domain.door import DoorSensor, ExitPressed
from edge_agent.domain.passages import BeamCounter, BeamPair, PassageSensed

log = logging.getLogger(__name__)

OnStatus = Callable[[str, str, str], None]
StatusFactory = Callable[[str, str], OnStatus]
"""``status(role, kind)`` returns the ``on_status(name, state, detail)`` callback of one driver."""


class InputMapper:
    """Turn Modbus input bits into door-contact changes, exit-button presses and passages."""

    def __init__(self, submit: Callable[[Any], None], door_input: int, exit_input: int, door_open_level: bool) -> None:
        """Map bit ``door_input`` (open when ``door_open_level``) and bit ``exit_input`` (rising edge)."""
        self.submit = submit
        self.door_input = door_input
        self.exit_input = exit_input
        self.door_open_level = door_open_level
        self.beams: tuple[int, ...] = ()  # (counter,) or (outer, inner): see ``with_beams``
        self.broken_level = True
        self._pair, self._counter = BeamPair(), BeamCounter()
        self._last: tuple[bool, ...] | None = None

    @classmethod
    def for_inputs(cls, submit: Callable[[Any], None], inputs: InputsConfig) -> InputMapper:
        """Return the mapper of an ``[inputs]`` table, with its passage sensor if one is fitted."""
        mapper = cls(submit, inputs.door_input, inputs.exit_input, inputs.door_open_level)
        beams = (inputs.beam_input, inputs.beam_outer_input, inputs.beam_inner_input)
        mapper.beams = tuple(b for b in beams if b is not None)
        mapper.broken_level = inputs.beam_broken_level
        return mapper

    @property
    def count(self) -> int:
        """Return how many inputs (from 0) must be read to see every mapped one."""
        return max(self.door_input, self.exit_input, *self.beams) + 1

    def __call__(self, bits: tuple[bool, ...]) -> None:
        """Handle a new input reading (the door contact first, so a passage falls in its opening)."""
        previous, self._last = self._last, bits
        is_open = bits[self.door_input] == self.door_open_level
        if previous is None or previous[self.door_input] != bits[self.door_input]:
            self.submit(DoorSensor(is_open))
        if previous is not None and bits[self.exit_input] and not previous[self.exit_input]:
            self.submit(ExitPressed())
        broken = tuple(bits[b] == self.broken_level for b in self.beams)
        if len(broken) == 2 and (direction := self._pair.step((broken[0], broken[1]))) is not None:
            self.submit(PassageSensed(direction))
        elif len(broken) == 1 and self._counter.step(broken[0]):
            self.submit(PassageSensed())


def driver_for(config: DeviceConfig, **kwargs: Any) -> Any:
    """Return the (not started) driver of the catalog device ``config.type`` at ``config.url``.

    ``kwargs`` are the driver's name and callbacks; the config adds the device's own options.
    """
    spec = catalog.get(config.type)
    return spec.driver_class()(config.url, **config.driver_options(), **kwargs)


def is_lock_driver(driver: DriverThread) -> bool:
    """Return whether ``driver`` drives a lock output (they are stopped last, after "locked")."""
    return isinstance(driver, tuple(spec.driver_class() for spec in catalog.of_kind("lock")))


def door_lock(lock: DeviceConfig, inputs: InputsConfig | None, status: StatusFactory) -> tuple[Any, Any | None]:
    """Return the lock driver, and the same driver again when it can also read the door inputs.

    A lock whose catalog entry has the ``inputs`` trait (a Modbus IO module) on the inputs' port
    is one driver named ``io`` that reports as the inputs.
    """
    reads_inputs = "inputs" in catalog.get(lock.type).traits
    same_port = reads_inputs and inputs is not None and inputs.url == lock.url
    driver = driver_for(
        lock,
        name="io" if same_port else "lock",
        on_status=status("inputs" if same_port else "lock", lock.type),
    )
    return driver, (driver if reads_inputs else None)


def door_inputs(
    inputs: InputsConfig, io_driver: Any | None, submit: Callable[[Any], None], status: StatusFactory
) -> Any | None:
    """Map the door contact and exit button; return a new inputs driver, or None if ``io_driver`` serves them."""
    mapper = InputMapper.for_inputs(submit, inputs)
    count = mapper.count
    if io_driver is not None and inputs.url == io_driver.link.url:
        io_driver.on_inputs = mapper
        io_driver.input_count = count
        return None
    spec = catalog.get(inputs.type)
    return spec.driver_class()(
        inputs.url,
        unit=inputs.unit,
        inputs=count,
        name="io",
        on_inputs=mapper,
        on_status=status("inputs", inputs.type),
    )


def door_scanner(scanner: ScannerConfig, on_code: Callable[[str], None], status: StatusFactory) -> Any:
    """Return the door's code scanner driver; ``on_code`` gets the text of every scan."""

    def on_scan(scan: CodeScanned) -> None:
        on_code(scan.text)

    def on_garbage(garbage: Garbage) -> None:
        log.warning("scanner sent a line that is not a code (%s): %r", garbage.reason, garbage.data[:40])

    return driver_for(
        scanner, name="scanner", on_scan=on_scan, on_garbage=on_garbage, on_status=status("reader", scanner.type)
    )


def station_scanner(
    scanner: ScannerConfig, name: str, on_scan: Callable[[CodeScanned], None], status: StatusFactory
) -> Any:
    """Return a checkout scanner driver.

    Checkout scanners have always used the generic CR LF framing whatever ``profile`` says;
    kept as it is (a behaviour change belongs in its own commit).
    """
    spec = catalog.get(scanner.type)
    return spec.driver_class()(
        scanner.url, profile=GENERIC_CRLF, name=name, on_scan=on_scan, on_status=status("reader", scanner.type)
    )


def station_screen(
    screen: DeviceConfig, name: str, submit: Callable[[Any], None], status: StatusFactory
) -> tuple[DriverThread, Screen]:
    """Return a checkout screen's driver and the adapter that renders on it (touch or text)."""
    driver = driver_for(screen, name=name, on_status=status("other", screen.type))
    if "touch" in catalog.get(screen.type).traits:
        return driver, NextionScreen(driver, submit)
    return driver, PoleScreen(driver)


OnCredential = Callable[[str, str], None]
"""``on_credential(kind, value)``: a reader read a card (``facility:card``) or a PIN."""


def _card(on_credential: OnCredential, name: str) -> Callable[[Any], None]:
    def on_card(card: Any) -> None:
        if isinstance(card, CardRead):
            on_credential("card", card_text(card.facility, card.card))
        else:  # an OSDP card in a format that is not 26/34-bit Wiegand: no staff card has it
            log.warning(
                "%s read a %d-bit card in format %s; not a facility:card number", name, card.bit_count, card.format
            )

    return on_card


def reader(
    config: DeviceConfig,
    name: str,
    on_code: Callable[[str], None],
    on_credential: OnCredential,
    status: StatusFactory,
) -> Any:
    """Return the driver of any catalog reader: a scanner delivers member codes, the others cards and PINs.

    What each reader kind delivers is its driver's callbacks: ``on_scan`` (a scanner's line,
    checked as a member code), ``on_card`` and ``on_pin`` (Wiegand, keypad, OSDP: checked
    against the staff credentials).
    """
    if "on_scan" in _callbacks(config.type):
        return driver_for(
            config,
            name=name,
            on_scan=lambda scan: on_code(scan.text),
            on_garbage=lambda g: log.warning("%s sent a line that is not a code (%s)", name, g.reason),
            on_status=status("reader", config.type),
        )
    return driver_for(
        config,
        name=name,
        on_card=_card(on_credential, name),
        on_pin=lambda pin: on_credential("pin", pin),
        on_status=status("reader", config.type),
    )


def _callbacks(device: str) -> frozenset[str]:
    """Return the callback names the catalog device's driver takes (what it can deliver)."""
    import inspect

    params = inspect.signature(catalog.get(device).driver_class()).parameters
    return frozenset(p for p in params if p.startswith("on_"))
