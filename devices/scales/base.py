"""The common scale driver interface and the base class the three scale drivers share.

``ScaleDriver`` is what the agent depends on (structurally): ``on_weight`` hears settled
weights in grams, ``zero``/``tare``/``clear_tare`` return a future that resolves to whether the
scale confirmed. ``SettlingScaleDriver`` runs the poll (or stream) loop on the driver thread,
feeds every reading through the shared ``WeightSettler`` and serialises commands between polls.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal, Protocol

from devices.driver import DriverThread, StatusCallback
from devices.errors import DeviceDisconnected
from devices.scales.settle import (
    Reading,
    ScaleError,
    SettleEvent,
    SettleRule,
    WeightSettler,
    WeightStable,
)
from devices.transport import LinkStatus, SerialSettings

log = logging.getLogger(__name__)


class _Codec(Protocol):
    def reset(self) -> None: ...

    def receive_data(self, data: bytes) -> Sequence[object]: ...


ScaleAction = Literal["zero", "tare", "clear_tare"]
WeightCallback = Callable[[WeightStable], None]
EventCallback = Callable[[SettleEvent], None]

GRAMS_PER_UNIT = {"g": 1.0, "kg": 1000.0, "mg": 0.001, "lb": 453.59237, "oz": 28.349523125, "ct": 0.2}


def to_grams(value: float, unit: str) -> float:
    """Convert ``value`` in ``unit`` to grams.

    Raises:
        ValueError: the unit is unknown.
    """
    try:
        return value * GRAMS_PER_UNIT[unit.lower()]
    except KeyError:
        raise ValueError(f"unknown weight unit {unit!r}") from None


class ScaleDriver(Protocol):
    """What every scale driver offers the agent."""

    name: str

    def start(self) -> None:
        """Start the driver thread."""
        ...

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the driver thread and close the port."""
        ...

    def wait_online(self, timeout: float) -> bool:
        """Wait until the port is open."""
        ...

    def zero(self) -> Future[bool]:
        """Zero the scale; the future tells whether the scale confirmed."""
        ...

    def tare(self) -> Future[bool]:
        """Tare the scale; the future tells whether the scale confirmed."""
        ...

    def clear_tare(self) -> Future[bool]:
        """Clear the tare; the future tells whether the scale confirmed."""
        ...

    @property
    def settled(self) -> WeightStable | None:
        """Return the weight settled now, if any."""
        ...


@dataclass
class ScaleStats:
    """Traffic counters (for ``smartstore bench devices``)."""

    polls: int = 0
    readings: int = 0
    garbage: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    started: float = field(default_factory=time.monotonic)


class SettlingScaleDriver(DriverThread):
    """Poll (or listen to) a scale and deliver settled weights; subclasses speak the protocol."""

    protocol_name = "scale"

    def __init__(
        self,
        url: str,
        *,
        name: str,
        settings: SerialSettings,
        rule: SettleRule | None = None,
        poll_interval: float = 0.1,
        on_weight: WeightCallback | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the driver; ``start`` runs it."""
        super().__init__(url, name=name, settings=settings, on_status=on_status, max_backoff=max_backoff)
        self.settler = WeightSettler(rule)
        self.poll_interval = poll_interval
        self.on_weight = on_weight or (lambda weight: None)
        self.on_event = on_event or (lambda event: None)
        self.on_reading: Callable[[Reading], None] = lambda reading: None  # raw readings (diagnostics, bench)
        self.stats = ScaleStats()
        self._actions: queue.SimpleQueue[tuple[ScaleAction, Future[bool]]] = queue.SimpleQueue()
        self._next_poll = 0.0

    # ------------------------------------------------------------------ agent-facing API
    @property
    def settled(self) -> WeightStable | None:
        """Return the weight settled now, if any."""
        return self.settler.settled

    def zero(self) -> Future[bool]:
        """Zero the scale (between two polls)."""
        return self._queue("zero")

    def tare(self) -> Future[bool]:
        """Tare the scale (between two polls)."""
        return self._queue("tare")

    def clear_tare(self) -> Future[bool]:
        """Clear the tare (between two polls)."""
        return self._queue("clear_tare")

    def _queue(self, action: ScaleAction) -> Future[bool]:
        future: Future[bool] = Future()
        if not self.online.is_set():
            future.set_result(False)
            return future
        self._actions.put((action, future))
        return future

    # ------------------------------------------------------------------ driver thread
    def _status(self, status: LinkStatus, detail: str) -> None:
        if status == "disconnected":
            self._fail_pending()
            self.settler.reset()
            self._deliver([ScaleError("offline", time.monotonic(), detail)])
        super()._status(status, detail)

    def _fail_pending(self) -> None:
        while True:
            try:
                _, future = self._actions.get_nowait()
            except queue.Empty:
                return
            future.set_result(False)

    def on_connected(self) -> None:
        """Forget old readings and greet the scale."""
        self.settler.reset()
        self._next_poll = 0.0
        self.handshake()

    def service(self) -> None:
        """Run one queued command, or take the next reading(s) when due."""
        wait = max(0.0, self._next_poll - time.monotonic())
        try:
            action, future = self._actions.get(timeout=wait) if wait else self._actions.get_nowait()
        except queue.Empty:
            action = None
        if action is not None:
            try:
                ok = self.execute(action)
            except DeviceDisconnected:
                future.set_result(False)
                raise
            future.set_result(ok)
            self.settler.reset()
            return
        self._next_poll = time.monotonic() + self.poll_interval
        readings = self.measure()
        for reading in readings:
            self.stats.readings += 1
            try:
                self.on_reading(reading)
            except Exception:
                log.exception("%s: reading callback failed", self.name)
            self._deliver(self.settler.feed(reading))

    def _deliver(self, events: list[SettleEvent]) -> None:
        for event in events:
            try:
                self.on_event(event)
                if isinstance(event, WeightStable):
                    self.on_weight(event)
            except Exception:
                log.exception("%s: weight callback failed", self.name)

    def _exchange(
        self, codec: _Codec, request: bytes, accept: Callable[[object], bool], timeout: float
    ) -> object | None:
        """Write ``request`` and return the first decoded event ``accept`` takes, or None on timeout.

        Input waiting before the request is dropped (stale replies); events that are not
        accepted go to ``unsolicited``.
        """
        self.link.reset_input()
        codec.reset()
        self._write(request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in codec.receive_data(self._read()):
                if accept(event):
                    return event
                self.unsolicited(event)
        return None

    def unsolicited(self, event: object) -> None:
        """Handle an event nobody waited for (count garbage; subclasses may log)."""
        if type(event).__name__ == "Garbage":
            self.stats.garbage += 1

    def _write(self, data: bytes) -> None:
        self.stats.bytes_out += len(data)
        self.link.write(data)

    def _read(self) -> bytes:
        data = self.link.read()
        self.stats.bytes_in += len(data)
        return data

    # ------------------------------------------------------------------ protocol hooks
    def handshake(self) -> None:
        """Greet the scale after a (re)connect (reset, probe); default: nothing."""

    def measure(self) -> list[Reading]:
        """Take the next reading(s); may return none (timeout, garbage)."""
        raise NotImplementedError

    def execute(self, action: ScaleAction) -> bool:
        """Run ``action`` on the scale; return whether it confirmed."""
        raise NotImplementedError
