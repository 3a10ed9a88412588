"""The MQTT ingest worker: shared subscription in, batched commit, then PUBACK.

Paho runs with ``manual_ack=True``: a QoS 1 message is acknowledged only after the batch holding
it is committed. If the worker dies first, the broker still owes the message and redelivers it.

Mosquitto 2.0 does not hand the in-flight messages of a dead *clean-start* member of a shared
subscription to the other members (they are lost with the session), so by default the worker
keeps a persistent session (``clean_start=False``, session expiry ``ingest_session_expiry_s``)
under a stable client id: when it restarts, the broker redelivers what it had not acknowledged.
Brokers that redispatch shared-subscription messages on session end (EMQX) can run with
``CLOUD_INGEST_CLEAN_START=true``. See docs/cloud.md.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError
from sqlalchemy import Engine

from cloud_sync.broker.login import configure_login
from cloud_sync.config import CloudSettings
from cloud_sync.db.session import make_engine
from cloud_sync.downlink_key import ActiveSigner
from cloud_sync.ingest.batch import BatchProcessor, BatchResult
from cloud_sync.ingest.classify import Incoming
from contracts.errors import ContractError
from contracts.messages import MAX_ACK_EVENT_IDS, DeliveryAck, dump
from contracts.topics import AVAILABILITY, DELIVERY_ACK, EVENT, PAY_REPLY, PAY_REQUEST, STATE, route, shared

log = logging.getLogger(__name__)
AckHook = Callable[[Sequence[Incoming], BatchResult, float], None]


def subscriptions(settings: CloudSettings) -> list[tuple[str, int]]:
    """Return the (filter, qos) list: shared for events/payments, plain for retained state."""
    group = settings.ingest_group
    subs = [(shared(group, EVENT.filter()), EVENT.qos)]
    if settings.ingest_payments:
        subs.append((shared(group, PAY_REQUEST.filter()), PAY_REQUEST.qos))
    if settings.ingest_state:
        # Retained messages are never delivered on shared subscriptions (MQTT 5, 4.8.2).
        subs += [(AVAILABILITY.filter(), AVAILABILITY.qos), (STATE.filter(), STATE.qos)]
    return subs


def _is_retained_topic(topic: str) -> bool:
    """Return whether ``topic`` carries retained state (written by one thread, in arrival order)."""
    try:
        return route(topic).spec.retain
    except ContractError:
        return False  # unknown topics go to the dead letters from any writer


class BufferedClient(mqtt.Client):
    """Paho client that reads the socket in 64 KiB chunks and acknowledges in batches.

    Stock paho handles one packet per ``select()`` wake-up and issues several ``recv`` calls per
    packet, and every ``ack()`` writes to its wake-up socket pair: about 100 us of CPU per
    message. This subclass (relying on paho 2.x internals ``_sock_recv`` and ``_packet_queue``,
    pinned ``<3``) drains every packet already received per wake-up and queues the PUBACKs of a
    whole batch as one write.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the client with an empty read buffer."""
        super().__init__(*args, **kwargs)
        self._rbuf = bytearray()
        self._rbuf_sock: int | None = None
        self.fast_handler: Callable[[str, bytes, int, int, bool], None] | None = None

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        """Hand a QoS 1 PUBLISH without properties straight to ``fast_handler``.

        Paho builds a full ``Properties`` object per MQTT 5 PUBLISH (a third of its CPU per
        message); store messages carry no properties, so they skip that. Anything else (QoS 0/2,
        properties present, no handler) takes paho's own path.
        """
        header = self._in_packet["command"]
        pkt = self._in_packet["packet"]
        handler = self.fast_handler
        if handler is None or (header & 0x06) >> 1 != 1 or len(pkt) < 5:
            return super()._handle_publish()
        (tlen,) = struct.unpack_from("!H", pkt, 0)
        off = 2 + tlen
        if len(pkt) < off + 3 or pkt[off + 2] != 0:
            return super()._handle_publish()
        (mid,) = struct.unpack_from("!H", pkt, off)
        try:
            topic = bytes(pkt[2:off]).decode("utf-8")
        except UnicodeDecodeError:
            return super()._handle_publish()
        handler(topic, bytes(pkt[off + 3 :]), mid, 1, bool(header & 0x01))
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        sock_id = id(self._sock)
        if sock_id != self._rbuf_sock:  # a new connection: drop what was left of the old one
            self._rbuf.clear()
            self._rbuf_sock = sock_id
        if not self._rbuf:
            data = super()._sock_recv(65536)
            if not data:
                return b""
            self._rbuf += data
        chunk = bytes(self._rbuf[:bufsize])
        del self._rbuf[:bufsize]
        return chunk

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        """Read one packet, then every further packet already buffered."""
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._rbuf and self._sock is not None:
            rc = super().loop_read(1)
        return rc

    def ack_batch(self, mids: Sequence[int]) -> None:
        """Queue the PUBACKs (success, no properties) of ``mids`` as one write."""
        if not mids or not self.is_connected():
            return  # not acknowledged: the broker redelivers on the next session
        packet = b"".join(struct.pack("!BBH", PUBACK, 2, mid) for mid in mids)
        self._packet_queue(PUBACK, packet, 0, 1)


class WorkerMetrics:
    """Prometheus metrics of one worker (own registry, exposed with ``--metrics-port``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Create the metrics in ``registry`` (a new one by default)."""
        self.registry = registry or CollectorRegistry()
        self.messages = Counter(
            "smartstore_ingest_messages", "Messages processed by outcome", ["outcome"], registry=self.registry
        )
        self.received = Counter(
            "smartstore_ingest_received", "Messages taken for writing (not yet committed)", registry=self.registry
        )
        self.batch_seconds = Histogram(
            "smartstore_ingest_batch_seconds", "Time to write and commit one batch", registry=self.registry
        )
        self.batch_size = Histogram(
            "smartstore_ingest_batch_size",
            "Messages per batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 5000),
            registry=self.registry,
        )


class IngestWorker:
    """Consume store messages from MQTT into the database in acknowledged batches."""

    def __init__(
        self,
        settings: CloudSettings,
        engine: Engine | None = None,
        *,
        on_ack: AckHook | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        """Prepare (not start) a worker; ``on_ack`` is called after each acknowledged batch."""
        self.settings = settings
        self._own_engine = engine is None
        self.engine = engine or make_engine(settings.database_url, pool_size=settings.ingest_writers + 2)
        self.processor = BatchProcessor(
            self.engine, low_stock_default=settings.low_stock_default, gap_alert_s=settings.ingest_gap_alert_s
        )
        self.on_ack = on_ack
        self.metrics = metrics or WorkerMetrics()
        self.client_id = settings.ingest_client_id or (
            f"cloud-ingest-{uuid.uuid4().hex[:12]}"
            if settings.ingest_clean_start
            else f"cloud-ingest-{socket.gethostname()}"
        )
        # Events and payment requests go to any of the writer threads (parallel transactions);
        # retained availability/state go to one thread so they are written in arrival order.
        self._queues: dict[str, deque[Incoming]] = {"events": deque(), "state": deque()}
        self._has_data = {name: threading.Event() for name in self._queues}
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._writers: list[threading.Thread] = []
        self.error: BaseException | None = None
        self.client = self._make_client()
        # What a store receives from the cloud is signed (acks and payment replies too).
        self.signer = ActiveSigner(settings.downlink_key_file)

    # ----------------------------------------------------------------------- MQTT

    def _make_client(self) -> BufferedClient:
        s = self.settings
        client = BufferedClient(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        configure_login(client, s)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.fast_handler = self._enqueue
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0 if self.settings.ingest_clean_start else self.settings.ingest_session_expiry_s
        # Flow control: at most this many unacknowledged messages in flight to this worker.
        props.ReceiveMaximum = min(65535, max(100, 4 * self.settings.ingest_batch_size))
        return props

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any = None) -> None:
        if rc.is_failure:
            log.error("MQTT connect refused: %s", rc)
            return
        client.subscribe(subscriptions(self.settings))
        self._connected.set()
        log.info("ingest worker %s connected", self.client_id)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        failed = [rc for rc in rcs if rc.is_failure]
        if failed:
            log.error("subscription refused: %s", failed)
        self._subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any = None) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if not self._stop.is_set():
            log.warning("ingest worker disconnected (%s), reconnecting", rc)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._enqueue(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain))

    def _enqueue(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool) -> None:
        kind = "state" if _is_retained_topic(topic) else "events"
        self._queues[kind].append(Incoming(topic, payload, mid, qos, retain))
        has_data = self._has_data[kind]
        if not has_data.is_set():
            has_data.set()

    # --------------------------------------------------------------------- batches

    def _next_batch(self, kind: str) -> list[Incoming]:
        q = self._queues[kind]
        has_data = self._has_data[kind]
        if not q:
            has_data.clear()
            if not q and not has_data.wait(0.1):
                return []
        batch: list[Incoming] = []
        size = self.settings.ingest_batch_size
        deadline = time.monotonic() + self.settings.ingest_batch_wait_ms / 1000
        while len(batch) < size:
            try:
                batch.append(q.popleft())
                continue
            except IndexError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            has_data.clear()
            if not q:
                has_data.wait(remaining)
        return batch

    def _writer_loop(self, kind: str) -> None:
        try:
            while not (self._stop.is_set() and not self._queues[kind]):
                batch = self._next_batch(kind)
                if batch:
                    self.handle_batch(batch)
        except BaseException as err:
            self.error = err
            log.exception("ingest writer stopped")
            self._stop.set()

    def handle_batch(self, batch: Sequence[Incoming]) -> BatchResult:
        """Write ``batch``, publish payment replies, then acknowledge every message."""
        self.metrics.received.inc(len(batch))
        t0 = time.perf_counter()
        result = self.processor.process(batch, stop=self._stop)
        self.metrics.batch_seconds.observe(time.perf_counter() - t0)
        self.metrics.batch_size.observe(len(batch))
        for topic, payload in result.replies:
            self.client.publish(topic, self.signer.sign(topic, payload), qos=PAY_REPLY.qos, retain=PAY_REPLY.retain)
        self._acknowledge_to_stores(result)
        self.client.ack_batch([msg.mid for msg in batch if msg.qos == 1])
        acked = time.time()
        m = self.metrics.messages
        m.labels("new").inc(result.new_events)
        m.labels("duplicate").inc(result.duplicates)
        m.labels("dead_letter").inc(result.dead_letters)
        m.labels("state").inc(result.states)
        m.labels("payment").inc(result.payments)
        if self.on_ack is not None:
            self.on_ack(batch, result, acked)
        return result

    def _acknowledge_to_stores(self, result: BatchResult) -> None:
        """Tell each store which of its events are now committed (it keeps them until told)."""
        for store, ids in result.committed.items():
            through = result.committed_through.get(store, 0)
            for start in range(0, len(ids), MAX_ACK_EVENT_IDS):
                try:
                    ack = DeliveryAck(
                        store_id=store, event_ids=ids[start : start + MAX_ACK_EVENT_IDS], committed_through=through
                    )
                except ValidationError:  # never the end of the worker: the store resends, we log
                    log.exception("cannot acknowledge to store %r", store[:80])
                    continue
                topic = DELIVERY_ACK.topic(store)
                signed = self.signer.sign(topic, dump(ack))
                self.client.publish(topic, signed, qos=DELIVERY_ACK.qos, retain=DELIVERY_ACK.retain)

    # ------------------------------------------------------------------- lifecycle

    def start(self, wait_s: float = 10.0) -> None:
        """Connect, subscribe and start the writer thread; wait until subscribed."""
        s = self.settings
        kinds = ["state"] + ["events"] * self.settings.ingest_writers
        self._writers = [
            threading.Thread(target=self._writer_loop, args=(kind,), name=f"ingest-{kind}-{i}", daemon=True)
            for i, kind in enumerate(kinds)
        ]
        for t in self._writers:
            t.start()
        self.client.connect_async(
            s.mqtt_host,
            s.mqtt_port,
            keepalive=s.mqtt_keepalive_s,
            clean_start=s.ingest_clean_start,
            properties=self._connect_properties(),
        )
        self.client.loop_start()
        if wait_s and not self._subscribed.wait(wait_s):
            log.warning("ingest worker not subscribed after %.0f s (broker down?), still trying", wait_s)

    @property
    def subscribed(self) -> bool:
        """Return whether the worker is connected and subscribed."""
        return self._subscribed.is_set()

    @property
    def backlog(self) -> int:
        """Return the number of received messages not yet written."""
        return sum(len(q) for q in self._queues.values())

    def stop(self, timeout: float = 30.0) -> None:
        """Write and acknowledge what was received, then disconnect."""
        self._stop.set()
        for t in self._writers:
            t.join(timeout)
        time.sleep(0.05)  # let the network thread flush the last PUBACKs
        self.client.disconnect()
        self.client.loop_stop()
        if self._own_engine:
            self.engine.dispose()

    def run_forever(self) -> int:
        """Run until SIGINT/SIGTERM; return the process exit code."""
        import signal

        done = threading.Event()

        def _graceful(_sig: int, _frame: Any) -> None:
            done.set()

        signal.signal(signal.SIGTERM, _graceful)
        signal.signal(signal.SIGINT, _graceful)
        self.start(wait_s=0)
        while not done.is_set() and not self._stop.is_set():
            done.wait(0.5)
        self.stop()
        return 1 if self.error else 0
