"""Fixtures for cloud_sync: migrated databases on SQLite and PostgreSQL, API clients, MQTT helpers.

Each backend is migrated once per session (PostgreSQL in a fresh schema of its own, dropped at
the end); every test starts from empty tables. PostgreSQL tests are skipped only when the server
at ``CLOUD_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) does
not answer.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.client import CallbackAPIVersion
from sqlalchemy import Engine, text

from cloud_sync.config import CloudSettings
from cloud_sync.db.base import Base
from cloud_sync.db.migrate import upgrade
from cloud_sync.db.session import make_engine, make_session_factory
from cloud_sync.main import create_app
from cloud_sync.services.tokens import Role, create_token
from smartstore.testing.signing import write_cloud_key

PG_URL = os.environ.get("CLOUD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_ok: bool | None = None


def pg_available() -> bool:
    """Return whether the test PostgreSQL server answers (cached)."""
    global _pg_ok
    if _pg_ok is None:
        try:
            eng = make_engine(PG_URL + ("&" if "?" in PG_URL else "?") + "connect_timeout=3")
            with eng.connect() as conn:
                conn.execute(text("SELECT 1"))
            eng.dispose()
            _pg_ok = True
        except Exception:
            _pg_ok = False
    return _pg_ok


def with_schema(url: str, schema: str) -> str:
    """Return ``url`` with a psycopg ``search_path`` option selecting ``schema``."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database per backend for the whole session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('clouddb') / 'cloud.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    if not pg_available():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"cs_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = with_schema(PG_URL, schema)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def reset_tables(engine: Engine) -> None:
    """Empty every table (fast) so each test starts clean."""
    names = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
        else:
            for name in names:
                conn.exec_driver_sql(f"DELETE FROM {name}")


@pytest.fixture
def db_url(migrated_url: str) -> str:
    """URL of an emptied, migrated database (SQLite or PostgreSQL)."""
    engine = make_engine(migrated_url)
    try:
        reset_tables(engine)
    finally:
        engine.dispose()
    return migrated_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> CloudSettings:
    """Settings for the test database, downlink and watcher off, fast dashboard refresh, the test signing key."""
    return CloudSettings(
        database_url=db_url,
        downlink_enabled=False,
        notify_enabled=False,
        dashboard_interval_s=0.2,
        downlink_key_file=write_cloud_key(tmp_path / "cloud-downlink-key.json"),
    )


@pytest.fixture
def app(settings: CloudSettings, engine: Engine) -> Any:
    """The FastAPI app on the test database."""
    return create_app(settings, engine=engine)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """A TestClient (lifespan run)."""
    with TestClient(app) as c:
        yield c


def make_token(engine: Engine, role: Role, store_id: str | None = None) -> str:
    """Create a token directly in the database and return its secret."""
    with make_session_factory(engine)() as session, session.begin():
        _row, secret = create_token(session, name=f"test-{role.value}", role=role, store_id=store_id)
    return secret


@pytest.fixture
def auth(engine: Engine) -> Callable[..., dict[str, str]]:
    """Return ``auth(role, store_id=None)`` -> Authorization headers."""

    def _auth(role: str = "operator", store_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(engine, Role(role), store_id)}"}

    return _auth


@pytest.fixture
def op(auth: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Operator headers."""
    return auth("operator")


# ------------------------------------------------------------------------------- MQTT


class Recorder:
    """A paho MQTT 5 subscriber that records (topic, payload, arrival time, retained)."""

    def __init__(self, broker: Any, filters: list[str], client_id: str | None = None) -> None:
        """Connect with the harness login and subscribe (QoS 1)."""
        self.messages: list[tuple[str, bytes, float, bool]] = []
        self.lock = threading.RLock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"rec-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe([(f, 1) for f in filters])
        broker.login(self.client)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "recorder did not subscribe"

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), time.monotonic(), bool(msg.retain)))

    def wait_for(
        self, predicate: Callable[[list[tuple[str, bytes, float, bool]]], bool], timeout: float = 10.0
    ) -> bool:
        """Wait until ``predicate(messages)`` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                snapshot = list(self.messages)
            if predicate(snapshot):
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


class Publisher:
    """A paho publisher that waits for each PUBACK."""

    def __init__(self, broker: Any) -> None:
        """Connect with the harness login (it may publish as any store)."""
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        broker.login(self.client)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, qos: int = 1) -> None:
        """Publish and wait until the broker has it."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: Any) -> Iterator[Publisher]:
    """A publisher on the test broker."""
    p = Publisher(broker)
    yield p
    p.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def count(engine: Engine, sql: str, **params: Any) -> int:
    """Return the integer result of a COUNT query."""
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


@pytest.fixture
def worker_factory(broker: Any, settings: CloudSettings, engine: Engine) -> Iterator[Callable[..., Any]]:
    """Start in-process ingest workers on the test broker and database; stopped at teardown."""
    from cloud_sync.ingest.worker import IngestWorker

    started: list[IngestWorker] = []

    def _start(**overrides: Any) -> IngestWorker:
        s = settings.model_copy(
            update=broker.cloud("ingest")
            | {
                "ingest_client_id": f"w-{uuid.uuid4().hex[:8]}",
                "ingest_batch_wait_ms": 5,
            }
            | overrides
        )
        w = IngestWorker(s, engine)
        w.start(wait_s=10)
        assert w.subscribed, "worker did not subscribe"
        started.append(w)
        return w

    yield _start
    for w in started:
        w.stop()


TESTS_DIR = Path(__file__).resolve().parent
