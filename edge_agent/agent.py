"""The door agent service: one decision thread between the devices and the outbox.

Device threads (camera, scanner, IO module) and paho's network thread only *submit* inputs to a
queue; one thread feeds them to the pure ``DoorController`` and carries out its actions in
order: the lock first, then feedback, then events into the outbox (which the MQTT pump
delivers). A tick every ``tick_s`` drives the timers.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from contracts.errors import ContractError
from contracts.messages import (
    AlarmCleared,
    AlarmKind,
    AlarmRaised,
    CommandReply,
    EventBase,
    SaleCompleted,
    SyncApplied,
    dump,
    parse_command,
)
from contracts.messages import DeviceStatus as DeviceStatusState
from contracts.sync import parse_delta, parse_snapshot
from contracts.topics import Topics, parse_topic
from edge_agent.domain.catalog import Catalog, Coupon
from edge_agent.domain.checkout import CatalogUpdated, CheckoutInput, CheckoutStation, ConnectivityChanged
from edge_agent.domain.checkout import Tick as StationTick
from edge_agent.domain.door import (
    Action,
    CommandReceived,
    DeviceStatus,
    DoorController,
    DoorInput,
    Emit,
    Feedback,
    Reply,
    SetLock,
    Tick,
)
from edge_agent.domain.payment import PaymentLedger
from edge_agent.domain.ports import LockOutput
from edge_agent.domain.synced import SyncedData

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where events go (the outbox) and who must hear of new ones (the MQTT pump)."""

    def append(self, event: EventBase, topic: str) -> EventBase:
        """Store an event durably."""
        ...


class Publisher(Protocol):
    """The broker side (``MqttLink``), absent when the agent runs without MQTT."""

    def notify(self) -> None:
        """Wake the outbox pump."""
        ...

    def publish_state(self, name: str, payload: bytes) -> None:
        """Publish a retained state snapshot."""
        ...

    def publish_reply(self, topic: str, payload: bytes) -> None:
        """Publish a command reply."""
        ...

    def clear_retained(self, topic: str) -> None:
        """Delete a retained message."""
        ...


@dataclass(frozen=True)
class SyncReceived:
    """A downlink snapshot or delta arrived from the cloud."""

    message: BaseModel
    snapshot: bool


@dataclass(frozen=True)
class StationInput:
    """An input for checkout station ``station_id``."""

    station_id: str
    input: CheckoutInput


class CheckoutIO(Protocol):
    """Carries out checkout actions (screens, camera evidence, payments)."""

    def execute(self, station_id: str, action: object) -> None:
        """Run one action of a station."""
        ...


@dataclass
class AgentStats:
    """Counters for the demo summary and operators."""

    granted: int = 0
    denied: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    bad_commands: int = 0
    bad_sync: int = 0


class StoreAgent:
    """Run a ``DoorController`` against real adapters."""

    def __init__(
        self,
        controller: DoorController,
        lock: LockOutput,
        outbox: EventSink,
        topics: Topics,
        *,
        publisher: Publisher | None = None,
        on_feedback: Callable[[Feedback], None] | None = None,
        tick_s: float = 0.1,
        synced: SyncedData | None = None,
        on_synced: Callable[[SyncedData], None] | None = None,
        stations: dict[str, CheckoutStation] | None = None,
        checkout_io: CheckoutIO | None = None,
        ledger: PaymentLedger | None = None,
        catalog_from_sync: Callable[[SyncedData], tuple[Catalog, list[Coupon]]] | None = None,
        on_sale: Callable[[SaleCompleted], None] | None = None,
        station_tick_s: float = 0.5,
    ) -> None:
        """Wire the controller to its lock, outbox and (optionally) broker."""
        self.controller = controller
        self.lock = lock
        self.outbox = outbox
        self.topics = topics
        self.publisher = publisher
        self.on_feedback = on_feedback or (lambda fb: log.info("reader: %s", fb.message))
        self.tick_s = tick_s
        self.synced = synced or SyncedData()
        self.on_synced = on_synced or (lambda data: None)
        self.stats = AgentStats()
        self.stations = stations or {}
        self.checkout_io = checkout_io
        self.ledger = ledger
        self.catalog_from_sync = catalog_from_sync
        self.on_sale = on_sale or (lambda sale: None)
        self.station_tick_s = station_tick_s
        self._next_station_tick = 0.0
        self._overflow_alarmed = False
        self._station_states: dict[str, dict[str, object]] = {}
        self._inbox: queue.Queue[DoorInput | SyncReceived | StationInput | None] = queue.Queue()
        self._apply_synced_to_verifier()
        self._thread: threading.Thread | None = None
        self._last_state: dict[str, object] | None = None
        self._devices: dict[str, DeviceStatusState] = {}
        self._dirty_devices: set[str] = set()
        self.idle = threading.Event()

    # ------------------------------------------------------------------ inputs
    def submit_station(self, station_id: str, item: CheckoutInput) -> None:
        """Queue an input for a checkout station from any thread."""
        self.submit(StationInput(station_id, item))

    def on_connection(self, up: bool) -> None:
        """Tell every station whether the cloud is reachable (paho thread)."""
        for station_id in self.stations:
            self.submit(StationInput(station_id, ConnectivityChanged(up)))

    def submit(self, item: DoorInput | SyncReceived | StationInput) -> None:
        """Queue an input from any thread."""
        self.idle.clear()
        self._inbox.put(item)

    def on_command(self, topic: str, payload: bytes, retained: bool) -> None:
        """Turn an MQTT command into an input, or reply with the error (paho thread)."""
        if not payload:
            return  # an empty payload clears a retained message; it is not a command
        self.stats.commands += 1
        try:
            store, kind, name = parse_topic(topic)
            if store != self.topics.store_id or kind != "cmd":
                raise ContractError(f"topic {topic!r} is not a command for this store")
            command = parse_command(payload)
            if command.name != name:
                raise ContractError(f"payload is a {command.name!r} command on the {name!r} topic")
        except ContractError as err:
            self.stats.bad_commands += 1
            name = topic.rsplit("/", 1)[-1]
            reply = CommandReply(correlation_id=_correlation_of(payload), name=name, status="error", error=str(err))
            if self.publisher is not None:
                self.publisher.publish_reply(self.topics.reply(name), dump(reply))
            return
        if retained and self.publisher is not None:
            self.publisher.clear_retained(topic)  # a retained command would replay at every reconnect
        self.submit(CommandReceived(command, retained=retained))

    def on_sync(self, topic: str, payload: bytes, retained: bool) -> None:
        """Parse a downlink message and queue it (paho thread); bad payloads are counted and logged."""
        try:
            _, _, rest = parse_topic(topic)  # rest: "manifest" or "{channel}/{snapshot|delta}"
            parts = rest.split("/")
            if parts == ["manifest"] or not payload:
                return
            if len(parts) != 2 or parts[1] not in ("snapshot", "delta"):
                raise ContractError(f"unknown sync topic {topic!r}")
            channel, kind = parts
            message = parse_snapshot(channel, payload) if kind == "snapshot" else parse_delta(channel, payload)
        except ContractError as err:
            self.stats.bad_sync += 1
            log.warning("ignored downlink message on %s: %s", topic, err)
            return
        self.submit(SyncReceived(message, kind == "snapshot"))

    def _apply_sync(self, item: SyncReceived) -> None:
        applied = self.synced.apply(item.message, snapshot=item.snapshot)
        if applied is None:
            return
        self._apply_synced_to_verifier()
        if applied.channel in ("catalog", "coupons"):
            self._apply_synced_to_stations()
        self.on_synced(self.synced)
        event = SyncApplied(store_id=self.topics.store_id, channel=applied.channel, version=applied.version)
        self.outbox.append(event, self.topics.event(event.type))
        if self.publisher is not None:
            self.publisher.notify()

    def _apply_synced_to_verifier(self) -> None:
        versions = self.synced.versions
        verifiers = [self.controller.verifier, *(station.verifier for station in self.stations.values())]
        for verifier in {id(v): v for v in verifiers}.values():  # the door's and the checkouts'
            if versions.get("revocations", 0):
                verifier.revocations.replace(
                    self.synced.revoked_member_ids, self.synced.revoked_phone_keys, versions["revocations"]
                )
            if versions.get("keys", 0) and self.synced.issuer_keys:
                verifier.trusted_keys = dict(self.synced.issuer_keys)

    def _apply_synced_to_stations(self) -> None:
        if self.catalog_from_sync is None or not self.stations:
            return
        catalog, coupons = self.catalog_from_sync(self.synced)
        if self.ledger is not None:
            self.ledger.replace_coupons(coupons)
        for station_id, station in self.stations.items():
            self._execute_station(station_id, station.handle(CatalogUpdated(catalog)))

    def on_device_status(self, name: str, kind: str, role: str, online: bool, detail: str = "") -> None:
        """Record a device going offline or coming back (driver threads)."""
        self._devices[name] = DeviceStatusState(
            device=name, kind=kind, status="online" if online else "offline", detail=detail
        )
        self._dirty_devices.add(name)
        self.submit(DeviceStatus(name, online, role if role in ("lock", "inputs", "reader") else "other", detail))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        """Lock the door, start the checkout stations, then start the decision thread."""
        self._execute(self.controller.start())
        for station_id, station in self.stations.items():
            self._execute_station(station_id, station.start())
        self._thread = threading.Thread(target=self._run, name="door-agent", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and lock the door."""
        self._inbox.put(None)
        if self._thread is not None:
            self._thread.join(5)
        self._execute(self.controller.stop())

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued input was handled (tests, demo)."""
        return self.idle.wait(timeout)

    def _run(self) -> None:
        while True:
            try:
                item = self._inbox.get(timeout=self.tick_s)
            except queue.Empty:
                item = Tick()
            if item is None:
                return
            try:
                if isinstance(item, SyncReceived):
                    self._apply_sync(item)
                elif isinstance(item, StationInput):
                    station = self.stations.get(item.station_id)
                    if station is None:
                        log.warning("input for unknown checkout station %r", item.station_id)
                    else:
                        self._execute_station(item.station_id, station.handle(item.input))
                else:
                    self._execute(self.controller.handle(item))
                    if isinstance(item, Tick):
                        self._tick_stations()
            except Exception:  # keep the door loop alive whatever one input does
                log.exception("handling %r failed", item)
            if self._inbox.empty():
                self.idle.set()

    def _check_overflow(self) -> None:
        """Raise (once) a critical alarm when the outbox holds more than its bound."""
        overflowing = bool(getattr(self.outbox, "overflowing", False))
        if overflowing == self._overflow_alarmed:
            return
        self._overflow_alarmed = overflowing
        kind = AlarmRaised if overflowing else AlarmCleared
        extra = {"severity": "critical", "detail": "outbox over its bound; nothing dropped"} if overflowing else {}
        event = kind(store_id=self.topics.store_id, alarm=AlarmKind.OUTBOX_OVERFLOW, source="outbox", **extra)
        self.outbox.append(event, self.topics.event(event.type))

    def _tick_stations(self) -> None:
        now = time.monotonic()
        if not self.stations or now < self._next_station_tick:
            return
        self._next_station_tick = now + self.station_tick_s
        for station_id, station in self.stations.items():
            self._execute_station(station_id, station.handle(StationTick()))

    def _execute_station(self, station_id: str, actions: Sequence[object]) -> None:
        emitted = False
        for action in actions:
            if isinstance(action, Emit):
                self.outbox.append(action.event, self.topics.event(action.event.type))  # type: ignore[attr-defined]
                emitted = True
                if isinstance(action.event, SaleCompleted):
                    self.on_sale(action.event)
            elif self.checkout_io is not None:
                self.checkout_io.execute(station_id, action)
        if self.publisher is not None:
            if emitted:
                self.publisher.notify()
            state = self.stations[station_id].snapshot().as_dict()
            if state != self._station_states.get(station_id):
                self._station_states[station_id] = state
                self.publisher.publish_state(f"checkout-{station_id}", json.dumps(state).encode())

    def _execute(self, actions: list[Action]) -> None:
        emitted = False
        for action in actions:
            if isinstance(action, SetLock):
                self.lock.set_energised(action.energised)
            elif isinstance(action, Feedback):
                if action.granted:
                    self.stats.granted += 1
                elif action.reason is not None:
                    self.stats.denied[action.reason.value] = self.stats.denied.get(action.reason.value, 0) + 1
                self.on_feedback(action)
            elif isinstance(action, Emit):
                self.outbox.append(action.event, self.topics.event(action.event.type))  # type: ignore[attr-defined]
                emitted = True
            elif isinstance(action, Reply) and self.publisher is not None:
                self.publisher.publish_reply(self.topics.reply(action.reply.name), dump(action.reply))
        if emitted:
            self._check_overflow()
        if self.publisher is not None:
            if emitted:
                self.publisher.notify()
            self._publish_state()

    def _publish_state(self) -> None:
        assert self.publisher is not None
        state = self.controller.snapshot().model_dump(mode="json", exclude={"ts"})
        if state != self._last_state:
            self._last_state = state
            self.publisher.publish_state("door", dump(self.controller.snapshot()))
        while self._dirty_devices:
            name = self._dirty_devices.pop()
            self.publisher.publish_state(f"device-{name}", dump(self._devices[name]))


def _correlation_of(payload: bytes) -> str:
    """Best-effort correlation id of a payload that failed validation."""
    import json

    try:
        value = json.loads(payload).get("correlation_id")
    except (ValueError, AttributeError):
        return "unknown"
    return value if isinstance(value, str) and 0 < len(value) <= 64 else "unknown"
