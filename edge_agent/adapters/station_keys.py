"""A checkout station's keypad: one key pays, another cancels (the keypad of a Wiegand converter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devices import catalog
from devices.wiegand.protocol import KeyPressed
from edge_agent.config import KeypadConfig
from edge_agent.domain.checkout import Abandon, CheckoutInput, Pay

StatusFactory = Callable[[str, str], Callable[[str, str, str], None]]


class KeypadKeys:
    """Turn key presses into station inputs: ``pay_key`` pays, ``cancel_key`` cancels, others do nothing."""

    def __init__(self, config: KeypadConfig, submit: Callable[[CheckoutInput], None]) -> None:
        """Submit ``Pay``/``Abandon`` for the configured keys."""
        self.config = config
        self.submit = submit

    def __call__(self, key: KeyPressed) -> None:
        """Handle one key from the driver thread."""
        if key.key == self.config.pay_key:
            self.submit(Pay("keypad"))
        elif key.key == self.config.cancel_key:
            self.submit(Abandon())


def station_keypad(
    config: KeypadConfig, name: str, submit: Callable[[CheckoutInput], None], status: StatusFactory
) -> Any:
    """Return the (not started) keypad driver of a station."""
    spec = catalog.get(config.type)
    return spec.driver_class()(
        config.url,
        profile=spec.profile,
        name=name,
        on_key=KeypadKeys(config, submit),
        on_status=status("reader", config.type),
    )
