"""MQTT adapter (paho-mqtt, v2 callback API): outbox pump, retained state, commands and replies.

Events go broker-ward only from the outbox: the pump hands rows to paho in id order while the
client is connected (at most ``window`` without PUBACK). With ``delivery="cloud"`` (the default)
a row stays in the outbox after its PUBACK until the cloud acknowledges that it committed the
event (``delivery/ack``); a row not acknowledged in time is published again, oldest first and
with backoff, sharing the window with new rows (``AckTracker``), and at most ``max_unacked``
rows are out at once. With ``delivery="broker"`` a row is deleted at its PUBACK (for a consumer
that sends no acknowledgements). paho re-sends QoS 1 messages without PUBACK itself after a
reconnect; after an agent restart the pump starts again from the oldest row. So every event
reaches the cloud's database at least once and in order; the cloud drops duplicates by
``event_id``.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from contracts.errors import ContractError
from contracts.messages import DeliveryAck
from contracts.topics import (
    AVAILABILITY,
    COMMAND_REPLY,
    DELIVERY_ACK,
    DOWNLINK_KEYS,
    EVENT,
    OFFLINE,
    ONLINE,
    PAY_REPLY,
    STATE,
    SYNC_DELTA,
    SYNC_MANIFEST,
    SYNC_SNAPSHOT,
    Topics,
    UnknownTopic,
    route,
    subscriptions,
)
from edge_agent.adapters.delivery import AckTracker
from edge_agent.adapters.outbox import Outbox, OutboxRow

log = logging.getLogger(__name__)

CommandHandler = Callable[[str, bytes, bool], None]
STATE_EVERY_S = 5.0  # how often the retained delivery state is refreshed


@dataclass(frozen=True)
class TlsOptions:
    """TLS to the broker: the CA its certificate must chain to, and the store's own pair if required."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_paths(cls, ca_file: Path | None, cert_file: Path | None, key_file: Path | None) -> TlsOptions | None:
        """Return the options for these files, or None (plain TCP) without a CA file."""
        if ca_file is None:
            return None
        return cls(str(ca_file), str(cert_file) if cert_file else None, str(key_file) if key_file else None)


def apply_login(client: mqtt.Client, username: str | None, password: str | None, tls: TlsOptions | None) -> None:
    """Give ``client`` its broker login and, with ``tls``, a verified TLS connection."""
    if username:
        client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set(
            ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file, tls_version=ssl.PROTOCOL_TLS_CLIENT
        )


@dataclass(frozen=True)
class DeliveryState:
    """What the store's outbox still holds for the cloud (``state/delivery``, metrics)."""

    delivery: str
    pending: int
    awaiting_ack: int
    oldest_unacked_age_s: float | None
    committed_through: int
    resends: int

    @classmethod
    def of(cls, outbox: Outbox, delivery: str, awaiting: int, committed_through: int, resends: int) -> DeliveryState:
        """Read the outbox's depth and oldest row now."""
        oldest = outbox.oldest_created()
        age = None if oldest is None else round(max(0.0, time.time() - oldest), 3)
        return cls(delivery, len(outbox), awaiting, age, committed_through, resends)


class MqttLink:
    """One store agent's connection to the broker."""

    def __init__(
        self,
        topics: Topics,
        outbox: Outbox,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        client_id: str | None = None,
        keepalive: int = 15,
        window: int = 200,
        on_command: CommandHandler | None = None,
        on_sync: CommandHandler | None = None,
        on_connection: Callable[[bool], None] | None = None,
        username: str | None = None,
        password: str | None = None,
        delivery: Literal["cloud", "broker"] = "cloud",
        ack_timeout_s: float = 10.0,
        max_unacked: int = 10_000,
        tls: TlsOptions | None = None,
        verify: Callable[[CommandHandler], CommandHandler] | None = None,
    ) -> None:
        """Prepare the client; ``start`` connects (and keeps reconnecting).

        ``verify`` wraps the delivery-acknowledgement handler and every routed handler (payment
        replies) in the downlink's signature checks (``Downlink.verified``); without it they are
        taken as they come (benchmarks).
        """
        self.topics = topics
        self.delivery = delivery
        self.max_unacked = max(window, max_unacked)
        self.tracker = AckTracker(ack_timeout_s)
        self.committed_through = 0
        self._next_report = 0.0
        self._forget: queue.Queue[list[int] | DeliveryAck | None] = queue.Queue()
        self._forgetter: threading.Thread | None = None
        self.outbox = outbox
        self.host, self.port = host, port
        self.window = window
        self.on_command = on_command or (lambda topic, payload, retained: None)
        self.on_sync = on_sync or (lambda topic, payload, retained: None)
        self.on_connection = on_connection or (lambda up: None)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"agent-{topics.store_id}-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        apply_login(self.client, username, password, tls)
        self.client.max_inflight_messages_set(window)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.will_set(topics.availability, OFFLINE, qos=AVAILABILITY.qos, retain=AVAILABILITY.retain)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._subscribe_mid: int | None = None
        self.subscribed = threading.Event()  # set once the broker acknowledged this connection's subscriptions
        self._keepalive = keepalive
        self._cond = threading.Condition()
        self._connected = False
        self._ever_connected = False
        self.reconnects = 0  # connections after the first (metrics)
        self._running = False
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._acked: list[int] = []
        self._early_acks: set[int] = set()
        self._last_handed = 0
        self._states: dict[str, bytes] = {}
        self._retained: dict[str, tuple[bytes, Callable[[str], None] | None]] = {}
        self._retained_mids: dict[int, tuple[str, Callable[[str], None]]] = {}
        self._pump: threading.Thread | None = None
        self._handlers: list[tuple[str, CommandHandler]] = []
        self._verify = verify or (lambda handler: handler)
        self._ack_handler = self._verify(self._on_delivery_ack)

    def delivery_state(self) -> DeliveryState:
        """Return what the outbox holds for the cloud: depth, oldest age, resends (``state/delivery``)."""
        return DeliveryState.of(
            self.outbox, self.delivery, len(self.tracker), self.committed_through, self.tracker.resends
        )

    def route(self, topic_filter: str, handler: CommandHandler) -> None:
        """Subscribe ``handler`` to ``topic_filter`` (call before ``start``); it gets verified payloads."""
        self._handlers.append((topic_filter, self._verify(handler)))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Connect in the background and start the outbox pump."""
        self._running = True
        self.client.connect_async(self.host, self.port, keepalive=self._keepalive)
        self.client.loop_start()
        self._pump = threading.Thread(target=self._pump_loop, name="outbox-pump", daemon=True)
        self._pump.start()
        self._forgetter = threading.Thread(target=self._forget_loop, name="outbox-forget", daemon=True)
        self._forgetter.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Publish ``offline``, wait briefly for pending acks, and disconnect."""
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._pump is not None:
            self._pump.join(timeout)
        self._flush_acks()
        self._forget.put(None)
        if self._forgetter is not None:
            self._forgetter.join(timeout)
        if self._connected:
            info = self.client.publish(
                self.topics.availability, OFFLINE, qos=AVAILABILITY.qos, retain=AVAILABILITY.retain
            )
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                log.debug("offline status not confirmed", exc_info=True)
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        """Return whether the broker connection is up."""
        return self._connected

    def notify(self) -> None:
        """Wake the pump: a row was appended."""
        with self._cond:
            self._cond.notify_all()

    # ------------------------------------------------------------------ publishing
    def publish_state(self, name: str, payload: bytes) -> None:
        """Publish a retained state snapshot now, and again after every reconnect."""
        topic = self.topics.state(name)
        with self._cond:  # _on_connect republishes them from paho's thread
            self._states[topic] = payload
        if self._connected:
            self.client.publish(topic, payload, qos=STATE.qos, retain=STATE.retain)

    def publish_reply(self, topic: str, payload: bytes) -> None:
        """Publish a command reply (QoS 1, never retained)."""
        self.client.publish(topic, payload, qos=COMMAND_REPLY.qos, retain=COMMAND_REPLY.retain)

    def publish_message(self, topic: str, payload: bytes) -> None:
        """Publish a QoS 1, non-retained message that needs no outbox (it is retried by its owner)."""
        self.client.publish(topic, payload, qos=1, retain=False)

    def retain(self, topic: str, payload: bytes, on_delivered: Callable[[str], None] | None = None) -> None:
        """Publish ``payload`` retained on ``topic`` after every connect (``b""`` clears it); call before ``start``.

        ``on_delivered(topic)`` runs on paho's thread each time the broker acknowledges it.
        """
        with self._cond:
            self._retained[topic] = (payload, on_delivered)

    def forget_retained(self, topic: str) -> None:
        """Stop publishing ``topic`` on connect (what the broker holds for it stays)."""
        with self._cond:
            self._retained.pop(topic, None)

    def clear_retained(self, topic: str) -> None:
        """Delete the retained message on ``topic`` (an empty retained publish)."""
        self.client.publish(topic, b"", qos=1, retain=True)

    # ------------------------------------------------------------------ paho callbacks
    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, rc: ReasonCode, props: Properties | None
    ) -> None:
        if rc.is_failure:
            log.warning("broker refused connection: %s", rc)
            return
        # "online" goes out once the broker has acknowledged the subscriptions (``_on_subscribe``):
        # a command sent as soon as the store says it is online must not find nobody subscribed.
        _rc, self._subscribe_mid = client.subscribe(
            subscriptions("agent", self.topics.store_id) + [(f, 1) for f, _ in self._handlers]
        )
        with self._cond:
            states = list(self._states.items())
        for topic, payload in states:
            client.publish(topic, payload, qos=STATE.qos, retain=STATE.retain)
        self._publish_retained(client)
        with self._cond:
            self._connected = True
            self._cond.notify_all()
        again, self._ever_connected = self._ever_connected, True
        self.reconnects += 1 if again else 0
        log.info(
            "broker %s:%d %s; %d event(s) to deliver",
            self.host,
            self.port,
            "reconnected" if again else "connected",
            len(self.outbox),
        )
        self.on_connection(True)

    def _publish_retained(self, client: mqtt.Client) -> None:
        """Publish the ``retain`` messages (paho's thread: no PUBACK can be handled before the mid is noted)."""
        with self._cond:
            retained = list(self._retained.items())
        for topic, (payload, on_delivered) in retained:
            info = client.publish(topic, payload, qos=1, retain=True)
            if on_delivered is not None and info.rc == mqtt.MQTT_ERR_SUCCESS:
                with self._cond:
                    self._retained_mids[info.mid] = (topic, on_delivered)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, codes: list[ReasonCode], props: Properties | None
    ) -> None:
        if mid == self._subscribe_mid:
            self.subscribed.set()
            client.publish(self.topics.availability, ONLINE, qos=AVAILABILITY.qos, retain=AVAILABILITY.retain)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        rc: ReasonCode,
        props: Properties | None,
    ) -> None:
        self.subscribed.clear()
        with self._cond:
            was, self._connected = self._connected, False
        if was:
            log.warning("broker connection lost (%s): the store keeps working and keeps its events", rc)
        self.on_connection(False)

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, rc: ReasonCode, props: Properties | None
    ) -> None:
        with self._cond:
            retained = self._retained_mids.pop(mid, None)
            if retained is None:
                row_id = self._inflight.pop(mid, None)
                if row_id is None:
                    self._early_acks.add(mid)
                else:
                    self._acked.append(row_id)
            self._cond.notify_all()
        if retained is not None:
            topic, on_delivered = retained
            try:
                on_delivered(topic)
            except Exception:  # never kill paho's network thread
                log.exception("retained-delivery callback failed for %s", topic)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        handler = next((h for f, h in self._handlers if mqtt.topic_matches_sub(f, msg.topic)), None)
        if handler is None:
            handler = self._handler_for(msg.topic)
            if handler is None:
                return  # our own command replies
        try:
            handler(msg.topic, bytes(msg.payload), bool(msg.retain))
        except Exception:  # a bad command must never kill paho's network thread
            log.exception("command handler failed for %s", msg.topic)

    def _handler_for(self, topic: str) -> CommandHandler | None:
        """Return the callback for ``topic`` from the topic map (``None``: ignore it).

        Downlink topics go to ``on_sync`` (which also counts malformed ones), replies nobody
        routed are ignored, and everything else goes to ``on_command``, which answers what is
        not a command.
        """
        try:
            spec = route(topic).spec
        except UnknownTopic as err:
            return self.on_sync if err.kind == "sync" else self.on_command
        if spec in (SYNC_MANIFEST, SYNC_SNAPSHOT, SYNC_DELTA, DOWNLINK_KEYS):
            return self.on_sync
        if spec is DELIVERY_ACK:
            return self._ack_handler
        if spec in (COMMAND_REPLY, PAY_REPLY):
            return None
        return self.on_command

    # ------------------------------------------------------------------ pump
    def _on_delivery_ack(self, topic: str, payload: bytes, retained: bool) -> None:
        """Forget the events the cloud committed (paho thread)."""
        try:
            ack = DELIVERY_ACK.parse(route(topic), payload)
        except ContractError as err:
            log.warning("ignored delivery acknowledgement on %s: %s", topic, err)
            return
        self._forget.put(ack)

    def _forget_loop(self) -> None:
        """Delete what the broker (PUBACK) or the cloud (``DeliveryAck``) acknowledged, in batches.

        It runs on its own thread, so neither publishing nor paho's network thread ever waits for
        the outbox's write lock (held through an append's fsync).
        """
        while True:
            jobs = [self._forget.get()]
            while not self._forget.empty():
                jobs.append(self._forget.get_nowait())
            rows = [row_id for job in jobs if isinstance(job, list) for row_id in job]
            acks = [job for job in jobs if isinstance(job, DeliveryAck)]
            if rows:
                self.outbox.delete_many(rows)
            if acks:
                forgotten = self.outbox.acknowledge([str(e) for ack in acks for e in ack.event_ids])
                with self._cond:
                    self.tracker.forget(forgotten)
                    self.committed_through = max(self.committed_through, *(a.committed_through for a in acks))
                    self._cond.notify_all()
            if any(job is None for job in jobs):
                return

    def _flush_acks(self) -> None:
        with self._cond:
            acked, self._acked = self._acked, []
            if self.delivery == "cloud":
                for row_id in acked:
                    self.tracker.sent(row_id)  # the broker has it; the cloud has yet to commit it
                return
        if acked:
            self._forget.put(acked)

    def _room(self) -> int:
        """How many rows the pump may hand to paho now (caller holds ``_cond``)."""
        room = self.window - len(self._inflight)
        if self.delivery == "cloud":
            room = min(room, self.max_unacked - len(self._inflight) - len(self.tracker))
        return room

    def _next_rows(self, room: int, after: int) -> list[OutboxRow]:
        """Rows to publish now: overdue ones again (at most half the room), then new ones in order."""
        again: list[OutboxRow] = []
        if self.delivery == "cloud":
            with self._cond:
                due = self.tracker.due(max(1, room // 2))
            again = self.outbox.rows(due)
            if len(again) < len(due):
                with self._cond:
                    self.tracker.forget(set(due) - {r.id for r in again})  # acknowledged meanwhile
        fresh = self.outbox.pending(after_id=after, limit=room - len(again)) if room > len(again) else []
        return again + fresh

    def _idle_wait(self) -> float:
        """How long the pump may sleep with nothing to send (caller holds ``_cond``)."""
        deadline = self.tracker.next_deadline() if self.delivery == "cloud" else None
        return 0.5 if deadline is None else min(0.5, max(0.01, deadline - time.monotonic()))

    def _report_delivery(self) -> None:
        """Publish ``state/delivery`` every ``STATE_EVERY_S`` while connected (pump thread)."""
        now = time.monotonic()
        if not self._connected or now < self._next_report:
            return
        self._next_report = now + STATE_EVERY_S
        self.publish_state("delivery", json.dumps(asdict(self.delivery_state())).encode())

    def _pump_loop(self) -> None:
        while True:
            self._flush_acks()
            self._report_delivery()
            with self._cond:
                if not self._running:
                    return
                room = self._room()
                if not self._connected or room <= 0:
                    self._cond.wait(0.5)
                    continue
                after = self._last_handed
            rows = self._next_rows(room, after)
            if not rows:
                with self._cond:
                    if not self._acked and self._running:
                        self._cond.wait(self._idle_wait())
                continue
            self._publish_rows(rows)

    def _publish_rows(self, rows: list[OutboxRow]) -> None:
        """Hand ``rows`` to paho; resends it could not take (link lost) keep a deadline.

        New rows it could not take stay after the cursor and are picked up again.
        """
        handed = self._hand_to_paho(rows)
        if handed < len(rows):
            with self._cond:
                for row in rows[handed:]:
                    if row.id <= self._last_handed:
                        self.tracker.sent(row.id)

    def _hand_to_paho(self, rows: list[OutboxRow]) -> int:
        """Publish ``rows`` in order while connected; return how many were handed to paho."""
        for handed, row in enumerate(rows):
            if not self._connected:
                return handed
            # Never hold our lock while calling paho: its thread holds its own lock when it
            # calls _on_publish, which takes ours. A PUBACK that beats the bookkeeping
            # below is parked in _early_acks.
            info = self.client.publish(row.topic, row.payload, qos=EVENT.qos, retain=EVENT.retain)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                log.warning("publish of row %d failed: %s", row.id, mqtt.error_string(info.rc))
                return handed
            # MQTT_ERR_NO_CONN: paho keeps the message and sends it after reconnecting.
            with self._cond:
                self._last_handed = max(self._last_handed, row.id)
                if info.mid in self._early_acks:
                    self._early_acks.discard(info.mid)
                    self._acked.append(row.id)
                else:
                    self._inflight[info.mid] = row.id
        return len(rows)
