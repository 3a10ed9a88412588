"""Simulated Wiegand-to-serial converter with a reader and a keypad behind it."""

from __future__ import annotations

import threading
from typing import Literal

from devices.wiegand.protocol import (
    CardRead,
    ConverterFormat,
    KeyPressed,
    ParityError,
    Role,
    WiegandCodec,
    encode_frame,
)


class WiegandSimulator:
    """A converter that prints queued card reads and key presses; faults: bad parity, garbage."""

    name = "wiegand"

    def __init__(self, fmt: ConverterFormat | None = None, *, key_bits: Literal[4, 8] = 4) -> None:
        """Create a converter printing in ``fmt``."""
        self.codec = WiegandCodec(Role.DEVICE, fmt)
        self.key_bits: Literal[4, 8] = key_bits
        self.bad_parity = False
        self._out = bytearray()
        self._lock = threading.Lock()

    def card(self, facility: int, card: int, bits: int = 26) -> None:
        """Present a card (with wrong parity when ``bad_parity`` is set)."""
        with self._lock:
            if self.bad_parity:
                frame = encode_frame(bits, facility, card, corrupt_parity=True)
                self._out += self.codec.send(ParityError(bits, frame))
            else:
                self._out += self.codec.send(CardRead(bits, facility, card))

    def keys(self, keys: str) -> None:
        """Type keys on the keypad (``0``-``9``, ``*``, ``#``)."""
        with self._lock:
            for key in keys:
                self._out += self.codec.send(KeyPressed(key), key_bits=self.key_bits)

    def inject(self, data: bytes) -> None:
        """Queue raw bytes (garbage, wrong-baud noise)."""
        with self._lock:
            self._out += data

    def receive_data(self, data: bytes) -> bytes:
        """Ignore host bytes (converters are configured by DIP switches)."""
        return b""

    def poll(self, now: float) -> bytes:
        """Send what was queued."""
        with self._lock:
            out, self._out = bytes(self._out), bytearray()
        return out


def demo(sim: WiegandSimulator, step: int) -> None:
    """Play step ``step`` of the ``smartstore sim`` demo: a card, then a PIN, in turn."""
    if step % 2:
        sim.keys("1234#")
    else:
        sim.card(101, 4095 + step)


def keypad_demo(sim: WiegandSimulator, step: int) -> None:
    """Play step ``step`` of the keypad demo: two PINs in turn."""
    sim.keys(("2468#", "13*5790#")[step % 2])
