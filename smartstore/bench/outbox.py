"""``smartstore bench outbox``: the agent's outbox and pump against raw paho, replay, end-to-end acks.

Everything goes to one private Mosquitto in one run, so the figures compare like with like:

- ``raw_msgs_per_s``: paho alone, QoS 1, 200 in flight, events of the same size, no disk.
- ``outbox_msgs_per_s``: the outbox's real path. Inputs are submitted to a real agent as fast as
  they come; a service that decides nothing turns each into one event, which goes through the
  decision loop, the emitter (group commit), the SQLite outbox (``synchronous=FULL``) and the
  pump, until the broker has acknowledged every one. ``ratio`` is the two rates' quotient (goal
  >= 0.7).
- ``door_codes_per_s``: the same with end-to-end acks, but each input is a garbage code the real
  door refuses (member-code parsing, the door's tables, feedback): what a door sustains.
- ``acked_msgs_per_s``: the same with ``delivery="cloud"``: rows are forgotten only when a
  stand-in for the ingest acknowledges them (``delivery/ack``, in batches as the worker does).
- ``replay_events_per_s``: a backlog of ``events`` rows written while the broker was away, from
  the pump's start until the last is acknowledged, in order, while live events keep arriving
  (``live_during_replay`` of them, each delivered too).
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from contracts.messages import AccessDenied, DeliveryAck, DenyReason, dump
from contracts.topics import DELIVERY_ACK, EVENT, Topics
from edge_agent.adapters.mqtt import MqttLink
from edge_agent.adapters.outbox import Outbox
from edge_agent.agent import Inbox, StoreAgent
from edge_agent.domain.access import AccessPolicy, AccessVerifier
from edge_agent.domain.actions import Emit
from edge_agent.domain.checkout import Pay
from edge_agent.domain.door import CodePresented, DoorConfig, DoorController
from edge_agent.domain.ports import SystemClock
from edge_agent.services.checkout import CheckoutService
from edge_agent.services.door import DoorService
from edge_agent.services.events import EventEmitter
from smartstore.testing.broker import MosquittoBroker

STORE = "bench-store"
TIMEOUT_S = 300.0


class _NoLock:
    def set_energised(self, on: bool) -> None:
        """The benchmark's door has no relay: garbage codes never unlock anyway."""


def _wait(predicate: Any, timeout: float = TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def _sample_payload() -> bytes:
    return dump(AccessDenied(store_id=STORE, door_id="main", reason=DenyReason.MALFORMED, detail="x" * 12, seq=1))


def _raw_paho(broker: MosquittoBroker, events: int) -> float:
    """Publish ``events`` QoS 1 messages with paho alone; return messages per second."""
    done = threading.Semaphore(0)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.on_publish = lambda *args: done.release()
    broker.login(client, broker.store_login(STORE))
    client.connect(broker.host, broker.port)
    client.loop_start()
    payload, topic = _sample_payload(), Topics(STORE).event("access_denied")
    try:
        t0 = time.perf_counter()
        for _ in range(events):
            client.publish(topic, payload, qos=1)
        for _ in range(events):
            if not done.acquire(timeout=TIMEOUT_S):
                raise RuntimeError("raw paho: PUBACKs missing")
        return events / (time.perf_counter() - t0)
    finally:
        client.loop_stop()
        client.disconnect()


class _Acker:
    """Stands in for the ingest in its own process: acknowledges every event it receives, every 20 ms."""

    def __init__(self, broker: MosquittoBroker) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        ready = ctx.Event()
        login = (broker.files.ingest.username, broker.files.ingest.password)
        self._proc = ctx.Process(
            target=_ack_events, args=(broker.host, broker.port, login, ready, self._stop), daemon=True
        )
        self._proc.start()
        if not ready.wait(30):
            raise RuntimeError("the acknowledging stand-in did not subscribe")

    def close(self) -> None:
        self._stop.set()
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()


def _ack_events(host: str, port: int, login: tuple[str, str], ready: Any, stop: Any) -> None:
    """Body of the acknowledging process: the ingest worker's MQTT client, without the database.

    It reads with the worker's buffered client, takes each event id from the payload, and every
    20 ms publishes one ``DeliveryAck`` per 500 ids and then the MQTT PUBACKs, as the worker does
    after a commit.
    """
    from cloud_sync.ingest.worker import BufferedClient

    pending: list[tuple[int, str]] = []
    lock = threading.Lock()
    marker = b'"event_id":"'

    def on_publish(_topic: str, payload: bytes, mid: int, _qos: int, _retain: bool) -> None:
        at = payload.find(marker) + len(marker)
        event_id = payload[at : at + 36].decode() if at >= len(marker) else json.loads(payload)["event_id"]
        with lock:
            pending.append((mid, event_id))

    client = BufferedClient(
        CallbackAPIVersion.VERSION2, client_id=f"acker-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5, manual_ack=True
    )
    client.fast_handler = on_publish
    client.on_subscribe = lambda *a: ready.set()
    client.on_connect = lambda c, *a: c.subscribe(EVENT.filter(), qos=1)
    client.username_pw_set(*login)
    client.connect(host, port)
    client.loop_start()
    while not stop.wait(0.02):
        with lock:
            batch, pending[:] = pending[:500], pending[500:]
        if batch:
            ack = DeliveryAck(store_id=STORE, event_ids=[uuid.UUID(event_id) for _, event_id in batch])
            client.publish(DELIVERY_ACK.topic(STORE), dump(ack), qos=1)
            client.ack_batch([mid for mid, _ in batch])
    client.loop_stop()
    client.disconnect()


class _EventPerInput:
    """A checkout station stand-in that turns every input into one event and decides nothing else."""

    verifier = None

    def start(self) -> list[object]:
        return []

    def handle(self, item: object) -> list[object]:
        if not isinstance(item, Pay):
            return []
        return [Emit(AccessDenied(store_id=STORE, door_id="main", reason=DenyReason.MALFORMED, detail="x" * 12))]


def _link(broker: MosquittoBroker, outbox: Outbox, delivery: str) -> MqttLink:
    """The store's link, logged in as the store (acknowledgements taken unverified: no downlink here)."""
    login = broker.store_login(STORE)
    return MqttLink(
        Topics(STORE),
        outbox,
        host=broker.host,
        port=broker.port,
        username=login.username,
        password=login.password,
        delivery=delivery,  # type: ignore[arg-type]
    )


def _event_agent(broker: MosquittoBroker, outbox: Outbox, delivery: str) -> tuple[StoreAgent, MqttLink]:
    """An agent whose one service emits one event per input: the outbox path without door logic."""
    topics = Topics(STORE)
    link = _link(broker, outbox, delivery)
    emitter = EventEmitter(outbox, topics, link)
    checkout = CheckoutService({"bench": _EventPerInput()}, emitter)  # type: ignore[dict-item]
    return StoreAgent(Inbox(), checkout=checkout, emitter=emitter), link


def _door_agent(broker: MosquittoBroker, outbox: Outbox, delivery: str) -> tuple[StoreAgent, MqttLink]:
    topics = Topics(STORE)
    link = _link(broker, outbox, delivery)
    verifier = AccessVerifier(STORE, {}, AccessPolicy(occupancy_cap=10**6))
    controller = DoorController(DoorConfig(store_id=STORE), verifier, SystemClock())
    emitter = EventEmitter(outbox, topics, link)
    door = DoorService(controller, _NoLock(), emitter, publisher=link, on_feedback=lambda fb: None)
    return StoreAgent(Inbox(), door=door, emitter=emitter), link


def _through_agent(broker: MosquittoBroker, workdir: Path, events: int, delivery: str, *, door: bool = False) -> float:
    """Submit ``events`` inputs (garbage codes to the door, or plain ones); return events/s until all are delivered."""
    outbox = Outbox(workdir / f"outbox-{delivery}-{'door' if door else 'events'}.db")
    acker = _Acker(broker) if delivery == "cloud" else None
    agent, link = (_door_agent if door else _event_agent)(broker, outbox, delivery)
    link.start()
    agent.start()
    try:
        if not _wait(lambda: link.connected and len(outbox) == 0, 30):
            raise RuntimeError("the agent did not connect and settle")
        before = outbox.counters()["delivered"]
        t0 = time.perf_counter()
        for i in range(events):
            if door:
                agent.submit(CodePresented(f"bench-garbage-{i}", reader="scanner"))
            else:
                agent.submit_station("bench", Pay())
        if not _wait(lambda: outbox.counters()["delivered"] - before >= events):
            raise RuntimeError(f"{delivery}: events not delivered in time")
        return events / (time.perf_counter() - t0)
    finally:
        agent.stop()
        link.stop()
        if acker is not None:
            acker.close()
        outbox.close()


def _replay(broker: MosquittoBroker, workdir: Path, events: int) -> dict[str, Any]:
    """A backlog written offline, then the pump; live codes keep arriving meanwhile."""
    outbox = Outbox(workdir / "outbox-replay.db")
    topics = Topics(STORE)
    backlog = [
        (AccessDenied(store_id=STORE, door_id="main", reason=DenyReason.MALFORMED), topics.event("access_denied"))
        for _ in range(events)
    ]
    for start in range(0, events, 1000):
        outbox.append_many(backlog[start : start + 1000])
    seqs: list[int] = []
    order_lock = threading.Lock()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"replay-{uuid.uuid4().hex[:6]}")

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with order_lock:
            seqs.append(int(json.loads(msg.payload)["seq"]))

    sub.on_message = on_message
    broker.login(sub, broker.files.ingest)
    sub.connect(broker.host, broker.port)
    sub.subscribe(EVENT.filter(), qos=1)
    sub.loop_start()
    agent, link = _door_agent(broker, outbox, "broker")
    agent.start()
    stop_live = threading.Event()
    live = 0

    def live_codes() -> None:
        nonlocal live
        while not stop_live.wait(0.005):  # about 200 live codes per second
            agent.submit(CodePresented(f"live-{live}", reader="scanner"))
            live += 1

    feeder = threading.Thread(target=live_codes, daemon=True)
    try:
        t0 = time.perf_counter()
        link.start()
        feeder.start()
        if not _wait(lambda: outbox.counters()["delivered"] >= events):
            raise RuntimeError("replay did not finish in time")
        elapsed = time.perf_counter() - t0
        stop_live.set()
        feeder.join(2)
        written = outbox.counters()["written"]
        delivered_all = _wait(lambda: outbox.counters()["delivered"] >= written, 30)
        with order_lock:
            received = list(seqs)
        return {
            "replay_events_per_s": round(events / elapsed),
            "replay_in_order": received[:events] == sorted(received[:events]),
            "live_during_replay": live,
            "live_delivered": delivered_all,
        }
    finally:
        stop_live.set()
        agent.stop()
        link.stop()
        sub.loop_stop()
        sub.disconnect()
        outbox.close()


def run_outbox_bench(events: int = 20_000) -> dict[str, Any]:
    """Run the outbox benchmark and return its figures."""
    workdir = Path(tempfile.mkdtemp(prefix="smartstore-bench-outbox-"))
    with MosquittoBroker(workdir=workdir / "broker") as broker:
        raw = _raw_paho(broker, events)
        through = _through_agent(broker, workdir, events, "broker")
        raw_again = _raw_paho(broker, events)  # interleaved: the machine's state moves during a run
        acked = _through_agent(broker, workdir, events, "cloud")
        door = _through_agent(broker, workdir, events, "cloud", door=True)
        replay = _replay(broker, workdir, events)
    raw_rate = (raw + raw_again) / 2
    return {
        "events": events,
        "raw_msgs_per_s": round(raw_rate),
        "outbox_msgs_per_s": round(through),
        "ratio": round(through / raw_rate, 2),
        "acked_msgs_per_s": round(acked),
        "acked_ratio": round(acked / raw_rate, 2),
        "door_codes_per_s": round(door),
        **replay,
    }
