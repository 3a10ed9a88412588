"""The chaos set test of issue 11: every event the agent wrote must be committed in the cloud, once.

Real processes only: ``smartstore agent run`` on simulated door and checkout hardware, a private
Mosquitto (persistence on), two ``smartstore cloud ingest`` workers on one shared subscription and a
fresh PostgreSQL database (or SQLite). While a night's traffic runs, faults fire at random moments
(seeded): kill -9 and graceful restarts of the agent, each worker and the broker, and a worker stopped
longer than its session expiry. Then everything is brought up, the agent's outbox drains, and the
sequence numbers 1..written of the outbox are compared with the ``events`` table.

:func:`run_chaos` returns the figures; ``smartstore bench chaos`` prints them as JSON.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.chaos_check import OutboxWatch, committed_seqs, effects
from smartstore.testing.chaos_traffic import (
    SHOPPERS,
    STORE,
    DoorTraffic,
    Hardware,
    Members,
    Shoppers,
    agent_settings,
    catalog_snapshot,
    write_toml,
)
from smartstore.testing.signing import write_cloud_key

FAULT_KINDS = (
    "kill9_agent",
    "kill9_worker",
    "restart_worker",
    "restart_broker",
    "kill9_broker",
    "worker_past_expiry",
)
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WORKERS = ("chaos-w1", "chaos-w2")
Progress = Callable[[str], None]


class Service:
    """One ``python -m smartstore ...`` child process that can be killed, stopped and started again."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        """Prepare (not start) the service; its output goes to ``log``."""
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        """Return whether the process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start the process (no-op when it runs)."""
        if self.running:
            return
        with self.log.open("ab") as out:
            out.write(f"\n--- start {self.starts} at {time.time():.3f}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "smartstore", *self.argv], stdout=out, stderr=out, env=self.env
            )
        self.starts += 1

    def kill9(self) -> None:
        """SIGKILL the process and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process and wait (SIGKILL if it does not exit in ``timeout``)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()


class Database:
    """A fresh cloud database for one run: a new PostgreSQL database, or a SQLite file."""

    def __init__(self, server_url: str | None, workdir: Path) -> None:
        """Create the database (not its schema)."""
        self.server_url = server_url
        if server_url is None:
            self.url = f"sqlite:///{workdir / 'cloud.db'}"
            return
        from sqlalchemy.engine import make_url

        self.name = f"chaos_{uuid.uuid4().hex[:10]}"
        self.url = make_url(server_url).set(database=self.name).render_as_string(hide_password=False)
        self._admin(f'CREATE DATABASE "{self.name}"')

    def _admin(self, sql: str) -> None:
        from sqlalchemy import create_engine

        assert self.server_url is not None
        engine = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def drop(self) -> None:
        """Drop the PostgreSQL database (SQLite files go with the work directory)."""
        if self.server_url is not None:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Cluster:
    """The broker, two ingest workers and the agent of one run."""

    def __init__(self, workdir: Path, db: Database, session_expiry_s: int, progress: Progress) -> None:
        """Prepare the broker, the simulated hardware and the services (nothing runs yet)."""
        self.workdir, self.db, self.say = workdir, db, progress
        self.broker = MosquittoBroker(workdir=workdir / "mosquitto")
        self.hw = Hardware(workdir)
        try:
            self._prepare(workdir, session_expiry_s)
        except BaseException:
            self.hw.stop()
            raise

    def _prepare(self, workdir: Path, session_expiry_s: int) -> None:
        self.members = Members()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUD_")}
        env.update(
            CLOUD_DATABASE_URL=self.db.url,
            **self.broker.cloud_env("ingest"),
            CLOUD_MQTT_KEEPALIVE_S="5",
            CLOUD_DOWNLINK_KEY_FILE=str(write_cloud_key(workdir / "cloud-downlink-key.json")),
            CLOUD_INGEST_SESSION_EXPIRY_S=str(session_expiry_s),
        )
        self.env = env
        self.workers = {
            cid: Service(cid, ["cloud", "ingest", "--client-id", cid], env, workdir / f"{cid}.log") for cid in WORKERS
        }
        self.data_dir = workdir / "data"
        login = self.broker.store_login(STORE)
        config = write_toml(
            agent_settings(
                self.hw,
                data_dir=self.data_dir,
                keys=self.members.write_keys(workdir / "issuer-keys.json"),
                mqtt_port=self.broker.port,
                checkout=True,
                login=(login.username, login.password),
            ),
            workdir / "agent.toml",
        )
        self.agent = Service(
            "agent", ["agent", "run", "--config", str(config), "--log-level", "WARNING"], env, workdir / "agent.log"
        )

    def migrate_and_seed(self) -> None:
        """Run ``smartstore cloud migrate`` and give the checkout's members a wallet."""
        out = subprocess.run(
            [sys.executable, "-m", "smartstore", "cloud", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"cloud migrate failed: {out.stderr.strip()[-2000:]}")
        from cloud_sync.db.models import Member
        from cloud_sync.db.session import make_engine

        engine = make_engine(self.db.url)
        now = datetime.now(UTC)
        try:
            with engine.begin() as conn:
                conn.execute(
                    Member.__table__.insert(),  # type: ignore[attr-defined]
                    [
                        {"id": m, "name": m, "tier": "standard", "balance_cents": 10**9, "created_at": now}
                        for m in SHOPPERS
                    ],
                )
        finally:
            engine.dispose()

    def start_worker(self, cid: str, *, wait: bool) -> None:
        """Start worker ``cid``; with ``wait``, until it is connected (bounded)."""
        svc = self.workers[cid]
        broker_log = self.broker.log_path
        since = broker_log.stat().st_size if broker_log.exists() else 0
        svc.start()
        if not wait:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and svc.running:  # the broker logs each client it accepts
            with broker_log.open("rb") as fh:
                fh.seek(since)
                if f" as {cid} (".encode() in fh.read():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"ingest worker {cid} did not connect: see {svc.log}")

    def publish_catalog(self) -> None:
        """Publish the catalog snapshot, retained (again after broker restarts: a kill -9 may lose it)."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from contracts.messages import dump
        from smartstore.testing.signing import signed

        client = self.broker.login(
            mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"chaos-catalog-{uuid.uuid4().hex[:6]}")
        )
        try:
            client.connect(self.broker.host, self.broker.port)
            client.loop_start()
            topic = f"smartstore/v1/{STORE}/sync/catalog/snapshot"
            info = client.publish(topic, signed(topic, dump(catalog_snapshot())), qos=1, retain=True)
            info.wait_for_publish(5)
        except (OSError, RuntimeError, ValueError) as err:
            self.say(f"catalog not published: {err}")
        finally:
            client.loop_stop()
            client.disconnect()

    def start(self) -> None:
        """Broker, database, both workers (subscribed), the catalog, then the agent."""
        self.broker.start()
        self.migrate_and_seed()
        for cid in WORKERS:
            self.start_worker(cid, wait=True)
        time.sleep(0.5)  # the SUBSCRIBE follows the CONNACK
        self.publish_catalog()
        self.agent.start()

    def ensure_up(self) -> None:
        """Start whatever is down."""
        if not self.broker.running:
            self.broker.start()
            self.publish_catalog()
        for cid in WORKERS:
            self.start_worker(cid, wait=False)
        self.agent.start()

    def starts(self) -> dict[str, int]:
        """Return how often each service was started."""
        return {svc.name: svc.starts for svc in (self.agent, *self.workers.values())}

    def log_tails(self, lines: int = 15) -> dict[str, list[str]]:
        """Return the last lines of each service's log (for a run that did not come out right)."""
        tails = {}
        for svc in (self.agent, *self.workers.values()):
            text = svc.log.read_text(errors="replace") if svc.log.exists() else ""
            tails[svc.name] = text.splitlines()[-lines:]
        return tails

    def close(self) -> None:
        """Kill every process and stop the simulators."""
        for svc in (self.agent, *self.workers.values()):
            try:
                svc.stop(timeout=5)
            finally:
                svc.kill9()
        self.broker.stop(kill=True)
        self.hw.stop()


def fault_schedule(faults: int, rng: random.Random) -> list[str]:
    """Return ``faults`` fault kinds in random order, every kind at least once (when faults >= 6)."""
    kinds = list(FAULT_KINDS)[: max(0, faults)]
    kinds += [rng.choice(FAULT_KINDS) for _ in range(faults - len(kinds))]
    rng.shuffle(kinds)
    return kinds


def inject(cluster: Cluster, kind: str, rng: random.Random, session_expiry_s: int) -> None:
    """Carry out one fault and bring the victim back."""
    if kind == "kill9_agent":
        cluster.agent.kill9()
        time.sleep(rng.uniform(0.0, 0.5))
        cluster.agent.start()
    elif kind in ("kill9_worker", "restart_worker"):
        cid = rng.choice(WORKERS)
        worker = cluster.workers[cid]
        worker.kill9() if kind == "kill9_worker" else worker.stop()
        time.sleep(rng.uniform(0.0, 1.0))
        cluster.start_worker(cid, wait=False)
    elif kind == "worker_past_expiry":
        cid = rng.choice(WORKERS)
        cluster.workers[cid].stop()
        time.sleep(session_expiry_s + rng.uniform(1.0, 2.0))
        cluster.start_worker(cid, wait=False)
    elif kind in ("restart_broker", "kill9_broker"):
        cluster.broker.restart(kill=kind == "kill9_broker", down_s=rng.uniform(0.1, 1.5))
        cluster.publish_catalog()
    else:
        raise ValueError(f"unknown fault kind {kind!r}")


def lost_by_fault(lost: list[int], marks: list[tuple[int, str]]) -> dict[str, int]:
    """Count lost events by the kind of the last fault that struck before the agent wrote them."""
    out: dict[str, int] = {}
    for seq in lost:
        kind = next((k for written, k in reversed(marks) if 0 <= written < seq), "before_any_fault")
        out[kind] = out.get(kind, 0) + 1
    return dict(sorted(out.items()))


def drain(cluster: Cluster, watch: OutboxWatch, timeout_s: float) -> tuple[int, bool]:
    """Wait until the outbox holds nothing to deliver and the database count is steady; return (written, ok)."""
    deadline = time.monotonic() + timeout_s
    last, steady_since, written = -1, time.monotonic(), 0
    while time.monotonic() < deadline:
        cluster.ensure_up()
        written, pending = watch.sample()
        count = len(committed_seqs(cluster.db.url))
        if count != last:
            last, steady_since = count, time.monotonic()
        if pending == 0 and written > 0 and time.monotonic() - steady_since >= 3.0:
            return written, True
        time.sleep(0.5)
    return written, False


def run_chaos(
    *,
    faults: int,
    seed: int,
    database_url: str | None,
    workdir: Path,
    session_expiry_s: int = 3,
    progress: Progress | None = None,
    gap_s: tuple[float, float] = (0.6, 3.0),
    drain_timeout_s: float = 90.0,
) -> dict[str, Any]:
    """Run the chaos set test and return its figures (see the module docstring).

    ``database_url`` is a PostgreSQL server URL (a fresh ``chaos_*`` database is created on it and
    dropped afterwards) or None for a SQLite file in ``workdir``.
    """
    say = progress or (lambda _m: None)
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    db = Database(database_url, workdir)
    cluster: Cluster | None = None
    threads: list[Any] = []
    try:
        cluster = Cluster(workdir, db, session_expiry_s, say)
        cluster.start()
        watch = OutboxWatch(cluster.data_dir / "outbox.db")
        door = DoorTraffic(cluster.hw, cluster.members, random.Random(seed + 1))
        shoppers = Shoppers(cluster.hw, cluster.members, random.Random(seed + 2))
        threads = [watch, door, shoppers]
        for t in threads:
            t.start()
        done: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        marks: list[tuple[int, str]] = []  # (events written when the fault struck, its kind)
        for i, kind in enumerate(fault_schedule(faults, rng)):
            time.sleep(rng.uniform(*gap_s))
            marks.append((watch.sample()[0], kind))
            inject(cluster, kind, rng, session_expiry_s)
            done[kind] += 1
            say(f"fault {i + 1}/{faults}: {kind} (written {watch.sample()[0]})")
        time.sleep(rng.uniform(*gap_s))
        door.stop()
        shoppers.stop()
        say("traffic stopped; bringing everything up and draining the outbox")
        written, drained = drain(cluster, watch, drain_timeout_s)
        seqs = committed_seqs(db.url)
        dup, totals = effects(db.url)
        watch.stop()
        lost = sorted(set(range(1, written + 1)) - seqs)
        counters = dict(zip(("written", "pending"), watch.sample(), strict=True))
        return {
            "seed": seed,
            "db": "sqlite" if database_url is None else "postgresql",
            "faults": done,
            "faults_total": sum(done.values()),
            "events_written": written,
            "events_committed": len(seqs & set(range(1, written + 1))),
            "lost": len(lost),
            "lost_seqs_sample": lost[:20],
            "lost_after_fault": lost_by_fault(lost, marks),
            "duplicated_effects": dup,
            "max_unacked_age_s": round(watch.max_age_s, 2),
            "drained": drained,
            "outbox_after": counters,
            "totals": totals,
            "door_scans": door.scans,
            "checkout": shoppers.outcomes,
            "session_expiry_s": session_expiry_s,
            "starts": cluster.starts(),
            "log_tails": {} if drained and written > 0 else cluster.log_tails(),
            "elapsed_s": round(time.monotonic() - t0, 1),
        }
    finally:
        for t in threads:
            t.stop()
        try:
            if cluster is not None:
                cluster.close()
        finally:
            db.drop()
