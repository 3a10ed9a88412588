"""``smartstore bench ingest``: a burst of realistic store events through Mosquitto into workers.

Starts its own :class:`smartstore.testing.broker.MosquittoBroker` (``max_queued_messages`` raised, so a
lagging worker never makes Mosquitto drop QoS 1 messages), a fresh database (SQLite file or a new
PostgreSQL schema), and N ingest workers in separate processes sharing one subscription group.
It publishes the events (plus re-sent duplicates) at QoS 1, waits until every unique event is in
the database, and reports throughput, publish-to-ack latency, lost events and duplicated effects.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import struct
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smartstore.bench.stats import percentile

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Workload:
    """Pre-serialised messages: (topic, payload, event_id, kind) in publish order."""

    messages: list[tuple[str, bytes, uuid.UUID]] = field(default_factory=list)
    unique: int = 0
    sales: int = 0
    sale_lines: int = 0
    offline_sales: int = 0
    entries: int = 0
    duplicates_sent: int = 0


def make_workload(
    n_events: int, *, stores: int = 20, members: int = 2000, dup_ratio: float = 0.02, seed: int = 7
) -> Workload:
    """Build ``n_events`` realistic events across ``stores`` stores, plus re-sent duplicates."""
    from contracts.messages import (
        AccessDenied,
        AccessGranted,
        AlarmCleared,
        AlarmKind,
        AlarmRaised,
        DenyReason,
        DoorClosed,
        DoorOpened,
        ExitRequested,
        SaleCompleted,
        SaleLine,
        Telemetry,
        dump,
    )
    from contracts.topics import Topics

    rng = random.Random(seed)
    wl = Workload()
    topics = [Topics(f"store-{i:03d}") for i in range(stores)]
    seqs = [0] * stores
    t0 = datetime.now(UTC) - timedelta(hours=1)
    events: list[Any] = []

    def add(ev: Any) -> None:
        events.append(ev)

    while len(events) < n_events:
        si = rng.randrange(stores)
        store = topics[si].store_id
        ts = t0 + timedelta(milliseconds=len(events))

        def nxt() -> int:
            seqs[si] += 1  # noqa: B023 - deliberate per-iteration closure
            return seqs[si]  # noqa: B023

        roll = rng.random()
        member = f"m{rng.randrange(members):05d}"
        if roll < 0.55:  # a visit: enter, shop, pay, leave
            add(AccessGranted(store_id=store, ts=ts, seq=nxt(), door_id="main", member_id=member, tier="standard"))
            add(DoorOpened(store_id=store, ts=ts, seq=nxt(), door_id="main", cause="grant"))
            add(DoorClosed(store_id=store, ts=ts, seq=nxt(), door_id="main"))
            lines = []
            for _ in range(rng.randint(1, 4)):
                price = rng.randint(80, 900)
                qty = rng.randint(1, 3)
                lines.append(
                    SaleLine(
                        product_id=f"p{rng.randrange(200):04d}",
                        name="item",
                        quantity=qty,
                        unit_price_cents=price,
                        total_cents=price * qty,
                    )
                )
            total = sum(line.total_cents for line in lines)
            add(
                SaleCompleted(
                    store_id=store,
                    ts=ts,
                    seq=nxt(),
                    sale_id=uuid.uuid4(),
                    station_id="checkout-1",
                    member_id=member,
                    lines=lines,
                    subtotal_cents=total,
                    total_cents=total,
                    payment_mode="offline",
                )
            )
            add(ExitRequested(store_id=store, ts=ts, seq=nxt(), door_id="main"))
            add(DoorOpened(store_id=store, ts=ts, seq=nxt(), door_id="main", cause="exit"))
            add(DoorClosed(store_id=store, ts=ts, seq=nxt(), door_id="main"))
        elif roll < 0.85:
            add(
                Telemetry(
                    store_id=store,
                    ts=ts,
                    seq=nxt(),
                    values={"temp_c": rng.uniform(2, 8), "fridge_door": 0.0, "cpu": rng.random()},
                )
            )
        elif roll < 0.97:
            add(
                AccessDenied(
                    store_id=store, ts=ts, seq=nxt(), door_id="main", reason=DenyReason.EXPIRED, member_id=member
                )
            )
        else:
            add(AlarmRaised(store_id=store, ts=ts, seq=nxt(), alarm=AlarmKind.DOOR_HELD_OPEN, source="main"))
            add(
                AlarmCleared(
                    store_id=store,
                    ts=ts + timedelta(seconds=1),
                    seq=nxt(),
                    alarm=AlarmKind.DOOR_HELD_OPEN,
                    source="main",
                )
            )
    events = events[:n_events]
    for ev in events:
        topic = Topics(ev.store_id).event(ev.type)
        wl.messages.append((topic, dump(ev), ev.event_id))
        if isinstance(ev, SaleCompleted):
            wl.sales += 1
            wl.sale_lines += len(ev.lines)
            wl.offline_sales += 1
        if isinstance(ev, AccessGranted | AccessDenied):
            wl.entries += 1
    wl.unique = len(wl.messages)
    # Re-send a few events later in the stream (what QoS 1 redelivery and agent retries produce).
    dups = rng.sample(range(len(wl.messages)), int(len(wl.messages) * dup_ratio))
    for i in dups:
        pos = min(len(wl.messages), i + rng.randint(1, 2000))
        wl.messages.insert(pos, wl.messages[i])
    wl.duplicates_sent = len(dups)
    return wl


def _worker_main(settings_json: str, stop: Any, ready: Any, out_path: str) -> None:
    """Run one ingest worker in a child process and write its ack log when stopped."""
    from cloud_sync.config import CloudSettings
    from cloud_sync.ingest.worker import IngestWorker

    acks: dict[str, float] = {}

    def on_ack(_batch: Any, result: Any, acked: float) -> None:
        for eid in result.event_ids:
            acks.setdefault(str(eid), acked)

    settings = CloudSettings.model_validate_json(settings_json)
    worker = IngestWorker(settings, on_ack=on_ack)
    worker.start(wait_s=15)
    ready.set()
    while not stop.is_set() and worker.error is None:
        stop.wait(0.2)
    worker.stop()
    Path(out_path).write_text(json.dumps({"acks": acks, "error": repr(worker.error) if worker.error else None}))


def _prepare_db(db: str, database_url: str | None) -> tuple[str, Any]:
    """Return (url, cleanup) for a fresh database of kind ``db``."""
    from cloud_sync.db.session import make_engine

    if db == "sqlite":
        tmp = tempfile.mkdtemp(prefix="smartstore-bench-db-")
        return f"sqlite:///{tmp}/bench.db", lambda: shutil.rmtree(tmp, ignore_errors=True)
    base = database_url or os.environ.get("CLOUD_DATABASE_URL") or DEFAULT_PG_URL
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"

    def cleanup() -> None:
        eng = make_engine(base)
        with eng.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        eng.dispose()

    return url, cleanup


def _seed(url: str, members: int) -> None:
    from cloud_sync.db.migrate import upgrade
    from cloud_sync.db.models import Member
    from cloud_sync.db.session import make_engine

    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            Member.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "id": f"m{i:05d}",
                    "name": f"member {i}",
                    "tier": "standard",
                    "balance_cents": 10**8,
                    "created_at": datetime.now(UTC),
                }
                for i in range(members)
            ],
        )
    engine.dispose()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mqtt_str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


class RawPublisher:
    """A minimal MQTT 5 QoS 1 publisher over a plain socket: the bench's load generator.

    It pre-encodes PUBLISH packets and writes them in large chunks, tracking PUBACKs with a
    reader thread and honouring the broker's Receive Maximum, so generating load costs a few
    microseconds per message instead of paho's ~100 and leaves the CPU to the system under test.
    """

    def __init__(self, host: str, port: int, client_id: str, login: tuple[str, str] | None = None) -> None:
        """Connect (clean start, no keep-alive, with ``login`` if given) and read the CONNACK."""
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        flags = 0x02 | (0xC0 if login else 0)  # clean start, user name and password
        body = _mqtt_str("MQTT") + bytes([5, flags]) + struct.pack("!H", 0) + _varint(0) + _mqtt_str(client_id)
        if login:
            body += _mqtt_str(login[0]) + _mqtt_str(login[1])
        self.sock.sendall(bytes([0x10]) + _varint(len(body)) + body)
        self._buf = b""
        ptype, payload = self._read_packet()
        if ptype != 0x20 or len(payload) < 2 or payload[1] != 0:
            raise ConnectionError(f"MQTT CONNACK refused: type {ptype:#x} {payload[:2].hex()}")
        self.receive_max = self._receive_max(payload[2:])
        self.free = threading.Semaphore(min(self.receive_max, 20_000))
        self.acked = 0
        self.errors = 0
        self._next_id = 0
        self._reader = threading.Thread(target=self._read_acks, daemon=True)
        self._reader.start()

    @staticmethod
    def _receive_max(props: bytes) -> int:
        # properties: varint length, then (id, value) pairs; Receive Maximum is 0x21 (u16).
        length, shift, i = 0, 0, 0
        while True:
            byte = props[i]
            length |= (byte & 0x7F) << shift
            i += 1
            shift += 7
            if not byte & 0x80:
                break
        end = i + length
        while i < end:
            pid = props[i]
            i += 1
            if pid == 0x21:
                return int(struct.unpack("!H", props[i : i + 2])[0])
            if pid in (0x24, 0x25, 0x28, 0x29, 0x2A):
                i += 1
            elif pid in (0x13, 0x21, 0x22):
                i += 2
            elif pid in (0x11, 0x27):
                i += 4
            elif pid in (0x12, 0x1A, 0x1C, 0x1F, 0x03, 0x08, 0x15):
                i += 2 + struct.unpack("!H", props[i : i + 2])[0]
            elif pid == 0x26:
                i += 2 + struct.unpack("!H", props[i : i + 2])[0]
                i += 2 + struct.unpack("!H", props[i : i + 2])[0]
            else:
                break
        return 65535

    def _read_packet(self) -> tuple[int, bytes]:
        while True:
            if len(self._buf) >= 2:
                length, shift, i = 0, 0, 1
                complete = False
                while i < len(self._buf):
                    byte = self._buf[i]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    i += 1
                    if not byte & 0x80:
                        complete = True
                        break
                if complete and len(self._buf) >= i + length:
                    ptype, payload = self._buf[0] & 0xF0, self._buf[i : i + length]
                    self._buf = self._buf[i + length :]
                    return ptype, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("broker closed the connection")
            self._buf += chunk

    def _read_acks(self) -> None:
        try:
            while True:
                ptype, payload = self._read_packet()
                if ptype == 0x40:  # PUBACK
                    if len(payload) > 2 and payload[2] >= 0x80:
                        self.errors += 1
                    self.acked += 1
                    self.free.release()
        except (OSError, ConnectionError):
            return

    def publish_many(self, items: Sequence[tuple[str, bytes]], on_sent: Any = None, chunk: int = 200) -> None:
        """Publish ``items`` at QoS 1; ``on_sent(index)`` is called as each chunk is written."""
        for start in range(0, len(items), chunk):
            out = bytearray()
            for topic, payload in items[start : start + chunk]:
                self.free.acquire()
                self._next_id = self._next_id % 65535 + 1
                var = _mqtt_str(topic) + struct.pack("!H", self._next_id) + b"\x00"
                out += bytes([0x32]) + _varint(len(var) + len(payload)) + var + payload
            if on_sent is not None:
                on_sent(start, min(len(items), start + chunk))
            self.sock.sendall(out)

    def wait_acked(self, total: int, timeout: float) -> bool:
        """Wait until ``total`` PUBACKs arrived."""
        deadline = time.monotonic() + timeout
        while self.acked < total and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.acked >= total

    def close(self) -> None:
        """Send DISCONNECT and close the socket."""
        try:
            self.sock.sendall(b"\xe0\x00")
        finally:
            self.sock.close()


def _publish(
    port: int,
    messages: Sequence[tuple[str, bytes, uuid.UUID]],
    published: dict[uuid.UUID, float],
    rate: float,
    login: tuple[str, str] | None = None,
) -> None:
    pub = RawPublisher("127.0.0.1", port, f"bench-pub-{uuid.uuid4().hex[:6]}", login)
    items = [(t, p) for t, p, _ in messages]
    start = time.perf_counter()

    def on_sent(lo: int, hi: int) -> None:
        if rate > 0:
            delay = start + lo / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        now = time.time()
        for _, _, eid in messages[lo:hi]:
            published.setdefault(eid, now)

    try:
        pub.publish_many(items, on_sent, chunk=20 if rate > 0 else 200)
        if not pub.wait_acked(len(items), 120):
            raise RuntimeError(f"broker acknowledged only {pub.acked} of {len(items)} publishes")
        if pub.errors:
            raise RuntimeError(f"broker refused {pub.errors} publishes")
    finally:
        pub.close()


def run_ingest_bench(
    *,
    db: str = "sqlite",
    workers: int = 1,
    events: int = 20_000,
    database_url: str | None = None,
    batch_size: int = 500,
    rate: float = 0.0,
    dup_ratio: float = 0.02,
    timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Run the benchmark and return the figures (see module docstring)."""
    from sqlalchemy import func, select

    from cloud_sync.config import CloudSettings
    from cloud_sync.db.models import Entry, Event, Sale, StockMovement, WalletEntry
    from cloud_sync.db.session import make_engine
    from smartstore.testing.broker import MosquittoBroker

    wl = make_workload(events, dup_ratio=dup_ratio)
    url, cleanup = _prepare_db(db, database_url)
    broker = MosquittoBroker()
    tmp = Path(tempfile.mkdtemp(prefix="smartstore-bench-"))
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs = []
    try:
        _seed(url, 2000)
        broker.start()
        readies = []
        for i in range(workers):
            settings = CloudSettings(
                database_url=url,
                **broker.cloud("ingest"),
                ingest_client_id=f"bench-worker-{i}",
                ingest_batch_size=batch_size,
                ingest_state=(i == 0),
            )
            ready = ctx.Event()
            p = ctx.Process(
                target=_worker_main,
                args=(settings.model_dump_json(), stop, ready, str(tmp / f"w{i}.json")),
                daemon=True,
            )
            p.start()
            procs.append(p)
            readies.append(ready)
        for r in readies:
            if not r.wait(60):
                raise RuntimeError("an ingest worker did not start within 60 s")
        time.sleep(0.3)
        engine = make_engine(url)
        published: dict[uuid.UUID, float] = {}
        worker_pids = [p.pid for p in procs if p.pid is not None]
        broker_pid = broker._proc.pid if broker._proc is not None else None
        cpu0 = _cpu_snapshot(worker_pids, broker_pid)
        t_start = time.time()
        login = (broker.harness.username, broker.harness.password)  # publishes as many stores
        pub = threading.Thread(target=_publish, args=(broker.port, wl.messages, published, rate, login), daemon=True)
        pub.start()
        count = 0
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(0.25)
            with engine.connect() as conn:
                count = int(conn.scalar(select(func.count()).select_from(Event)) or 0)
            if count >= wl.unique and not pub.is_alive():
                break
        pub.join(timeout=30)
        cpu1 = _cpu_snapshot(worker_pids, broker_pid)
        t_publish_end = max(published.values()) if published else t_start
        time.sleep(0.5)  # let duplicates still in flight land (they must have no effect)
        stop.set()
        for p in procs:
            p.join(timeout=60)
        acks: dict[str, float] = {}
        errors = []
        for i in range(workers):
            path = tmp / f"w{i}.json"
            if path.exists():
                data = json.loads(path.read_text())
                for eid, t in data["acks"].items():
                    acks[eid] = min(t, acks.get(eid, t))
                if data["error"]:
                    errors.append(data["error"])
            else:
                errors.append(f"worker {i} wrote no ack log (exit code {procs[i].exitcode})")
        with engine.connect() as conn:
            n_events = int(conn.scalar(select(func.count()).select_from(Event)) or 0)
            n_sales = int(conn.scalar(select(func.count()).select_from(Sale)) or 0)
            n_moves = int(conn.scalar(select(func.count()).select_from(StockMovement)) or 0)
            n_wallet = int(conn.scalar(select(func.count()).select_from(WalletEntry)) or 0)
            n_entries = int(conn.scalar(select(func.count()).select_from(Entry)) or 0)
            stored_ids = {str(e) for e in conn.scalars(select(Event.event_id))}
        engine.dispose()
        wanted = {str(eid) for _, _, eid in wl.messages}
        lost = len(wanted - stored_ids)
        duplicates = (
            max(0, n_events - wl.unique)
            + max(0, n_sales - wl.sales)
            + max(0, n_moves - wl.sale_lines)
            + max(0, n_wallet - wl.offline_sales)
            + max(0, n_entries - wl.entries)
        )
        lat = sorted((acks[str(eid)] - t) * 1000 for eid, t in published.items() if str(eid) in acks)
        last_ack = max(acks.values()) if acks else time.time()
        elapsed = max(1e-9, last_ack - t_start)
        return {
            "db": db,
            "workers": workers,
            "events": wl.unique,
            "messages_published": len(wl.messages),
            "duplicates_sent": wl.duplicates_sent,
            "dup_ratio": dup_ratio,
            "batch_size": batch_size,
            "rate_limit_per_s": rate or None,
            "elapsed_s": round(elapsed, 3),
            "publish_s": round(t_publish_end - t_start, 3),
            "events_per_s": round(wl.unique / elapsed, 1),
            "p50_ack_ms": round(percentile(lat, 50), 1) if lat else None,
            "p99_ack_ms": round(percentile(lat, 99), 1) if lat else None,
            "lost": lost,
            "duplicates": duplicates,
            "broker_max_queued_messages": broker_max_queued(broker),
            "worker_errors": errors,
            "cpu_s": {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0},
            "cpu_count": os.cpu_count(),
        }
    finally:
        stop.set()
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
        broker.close()
        shutil.rmtree(tmp, ignore_errors=True)
        cleanup()


def _proc_cpu(pid: int) -> float:
    """Return user+system CPU seconds of a process (0 if unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float:
    """Return CPU seconds of every local postgres process (the server's share of the work)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in raw:
            fields = raw[raw.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _cpu_snapshot(worker_pids: list[int], broker_pid: int | None) -> dict[str, float]:
    return {
        "bench_and_publisher": _proc_cpu(os.getpid()),
        "workers": sum(_proc_cpu(p) for p in worker_pids),
        "mosquitto": _proc_cpu(broker_pid) if broker_pid else 0.0,
        "postgres": _postgres_cpu(),
    }


def broker_max_queued(broker: Any) -> int | None:
    """Return ``max_queued_messages`` from the broker's generated config."""
    for line in Path(broker.config_path).read_text().splitlines():
        if line.startswith("max_queued_messages "):
            return int(line.split()[1])
    return None
