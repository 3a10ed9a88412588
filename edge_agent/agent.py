"""The store agent: one decision thread between the devices, the broker and the services.

Device threads (camera, scanners, IO module, scales) and paho's network thread only *submit*
inputs to the :class:`Inbox`. One thread takes them in order and hands each to the service it is
for: the door (:class:`~edge_agent.services.door.DoorService`), the checkout stations
(:class:`~edge_agent.services.checkout.CheckoutService`) or the downlink sync
(:class:`~edge_agent.services.sync.SyncService`). When no input arrives for ``tick_s`` a tick
drives the timers. Every service is optional: a checkout-only bench runs without a door.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from edge_agent.domain.checkout import CheckoutInput, CheckoutStation
from edge_agent.domain.door import DoorController, DoorInput, DoorTick
from edge_agent.services.checkout import CheckoutService, StationInput
from edge_agent.services.door import CommandArrived, CommandRefused, DeviceReport, DoorService
from edge_agent.services.events import EventEmitter
from edge_agent.services.stats import AgentStats
from edge_agent.services.sync import DownlinkRefusal, SyncReceived, SyncService

log = logging.getLogger(__name__)
GROUP_MAX = 64  # inputs whose events may share one outbox transaction

AgentInput = DoorInput | DeviceReport | CommandArrived | CommandRefused | SyncReceived | DownlinkRefusal | StationInput


class Inbox:
    """The agent's input queue: any thread submits, the decision thread takes."""

    def __init__(self) -> None:
        """Start empty (and idle)."""
        self._queue: queue.Queue[AgentInput | None] = queue.Queue()
        self.idle = threading.Event()

    def submit(self, item: AgentInput) -> None:
        """Queue an input from any thread."""
        self.idle.clear()
        self._queue.put(item)

    def submit_station(self, station_id: str, item: CheckoutInput) -> None:
        """Queue an input for a checkout station from any thread."""
        self.submit(StationInput(station_id, item))

    def device_status(self, name: str, kind: str, role: str, online: bool, detail: str = "") -> None:
        """Report a device going offline or coming back (driver threads)."""
        self.submit(DeviceReport(name, kind, role, online, detail))

    def get(self, timeout: float) -> AgentInput | None:
        """Return the next input, a ``DoorTick`` after ``timeout`` without one, or None to stop."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return DoorTick()

    def close(self) -> None:
        """Ask the decision thread to stop after the inputs already queued."""
        self._queue.put(None)

    def empty(self) -> bool:
        """Return whether no input waits."""
        return self._queue.empty()


class StoreAgent:
    """Run the decision thread over the store's services."""

    def __init__(
        self,
        inbox: Inbox,
        *,
        door: DoorService | None = None,
        checkout: CheckoutService | None = None,
        sync: SyncService | None = None,
        stats: AgentStats | None = None,
        tick_s: float = 0.1,
        emitter: EventEmitter | None = None,
    ) -> None:
        """Take inputs from ``inbox`` and hand them to the services given.

        With ``emitter`` (the services' one), the events of inputs that arrive back to back (up to
        ``GROUP_MAX``) share one durable transaction, written before the loop waits again.
        """
        self.inbox = inbox
        self.emitter = emitter
        self.door = door
        self.checkout = checkout
        self.sync = sync
        self.stats = stats or (door.stats if door is not None else AgentStats())
        self.tick_s = tick_s
        self._thread: threading.Thread | None = None
        self.loop_at = time.monotonic()  # when the decision loop last came round (the watchdog reads it)

    @property
    def controller(self) -> DoorController:
        """Return the door controller (the agent must run a door)."""
        if self.door is None:
            raise AttributeError("this agent runs no door")
        return self.door.controller

    @property
    def stations(self) -> dict[str, CheckoutStation]:
        """Return the checkout stations by id (empty without a checkout)."""
        return self.checkout.stations if self.checkout is not None else {}

    @property
    def idle(self) -> threading.Event:
        """Return the event set whenever every queued input was handled."""
        return self.inbox.idle

    # ------------------------------------------------------------------ inputs
    def submit(self, item: AgentInput) -> None:
        """Queue an input from any thread."""
        self.inbox.submit(item)

    def submit_station(self, station_id: str, item: CheckoutInput) -> None:
        """Queue an input for a checkout station from any thread."""
        self.inbox.submit_station(station_id, item)

    def on_device_status(self, name: str, kind: str, role: str, online: bool, detail: str = "") -> None:
        """Report a device going offline or coming back (driver threads)."""
        self.inbox.device_status(name, kind, role, online, detail)

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        """Lock the door, start the checkout stations, then start the decision thread."""
        if self.door is not None:
            self.door.start()
        if self.checkout is not None:
            self.checkout.start()
        self._thread = threading.Thread(target=self._run, name="door-agent", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and lock the door."""
        self.inbox.close()
        if self._thread is not None:
            self._thread.join(5)
        if self.door is not None:
            self.door.stop()

    def stalled_for(self, now: float | None = None) -> float | None:
        """Return how long the running decision loop has been stuck in one input, or None if it is fine.

        The loop comes round at least every ``tick_s``; anything much longer is a hang.
        """
        if self._thread is None or not self._thread.is_alive():
            return float("inf")
        waited = (now if now is not None else time.monotonic()) - self.loop_at
        return waited if waited > max(2.0, 20 * self.tick_s) else None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued input was handled (tests, demo)."""
        return self.inbox.idle.wait(timeout)

    def _run(self) -> None:
        grouped = 0
        while True:
            self.loop_at = time.monotonic()
            item = self.inbox.get(self.tick_s)
            if item is None:
                self._commit()
                return
            if self.emitter is not None:
                self.emitter.deferred = True
            try:
                self._dispatch(item)
            except Exception:  # keep the door loop alive whatever one input does
                log.exception("handling %r failed", item)
            grouped += 1
            if self.inbox.empty() or grouped >= GROUP_MAX:
                self._commit()
                grouped = 0
            if self.inbox.empty():
                self.inbox.idle.set()

    def _commit(self) -> None:
        """Write the events of the inputs handled since the last commit (one transaction)."""
        if self.emitter is None:
            return
        try:
            self.emitter.commit()
        except Exception:  # the outbox failed: log it, keep the door loop alive
            log.exception("writing events to the outbox failed")

    def _dispatch(self, item: AgentInput) -> None:
        if isinstance(item, SyncReceived | DownlinkRefusal):
            if self.sync is not None:
                self.sync.handle(item)
        elif isinstance(item, StationInput):
            if self.checkout is None:
                log.warning("input for unknown checkout station %r", item.station_id)
            else:
                self.checkout.handle(item)
        else:
            if self.door is not None:
                self.door.handle(item)
            if isinstance(item, DoorTick) and self.checkout is not None:
                self.checkout.tick()
