"""An event leaves the store only when the cloud has committed it: agent, broker, ingest, database."""

from __future__ import annotations

import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_sync.config import CloudSettings
from cloud_sync.db.migrate import upgrade
from cloud_sync.db.session import make_engine
from cloud_sync.ingest.worker import IngestWorker
from edge_agent.bootstrap import RunningAgent, build_agent
from edge_agent.config import AgentSettings
from smartstore.testing.broker import MosquittoBroker, free_port
from smartstore.testing.signing import write_cloud_key
from tests.edge_agent.conftest import Sims, agent_settings
from tests.edge_agent.helpers import STORE, Members


def _wait(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.fixture
def cloud_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _worker(url: str, broker: MosquittoBroker) -> IngestWorker:
    settings = CloudSettings(
        database_url=url,
        downlink_key_file=write_cloud_key(broker.workdir / "cloud-downlink-key.json"),  # the key agents pin
        **broker.cloud("ingest"),
        ingest_client_id=f"e2e-{uuid.uuid4().hex[:6]}",
        ingest_batch_wait_ms=5,
    )
    worker = IngestWorker(settings)
    worker.start()
    return worker


@pytest.fixture
def agent(tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members) -> Iterator[RunningAgent]:
    raw = agent_settings(tmp_path, sims, broker, members)
    raw["mqtt"] |= {"delivery": "cloud", "ack_timeout_s": 0.5}
    raw["metrics_port"] = free_port()
    running = build_agent(AgentSettings.model_validate(raw))
    yield running
    running.stop()


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        name: float(value)
        for name, value in (line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    }


def _events_in_cloud(url: str) -> set[int]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return {int(r[0]) for r in db.execute("SELECT seq FROM events WHERE store_id = ?", (STORE,))}


def test_events_stay_in_the_store_until_the_cloud_commits_them(
    agent: RunningAgent, sims: Sims, broker: MosquittoBroker, cloud_url: str
) -> None:
    assert _wait(lambda: agent.link is not None and agent.link.connected)
    for i in range(5):
        sims.scanner.scan(f"no-worker-{i}")
    # The broker takes every event (PUBACK), but no cloud worker exists: the store keeps them all.
    assert _wait(lambda: agent.outbox.counters()["written"] >= 5)
    assert agent.link is not None
    assert _wait(lambda: len(agent.link.tracker) >= 5)
    assert len(agent.outbox) == agent.outbox.counters()["written"]
    assert agent.metrics is not None
    assert _metrics(agent.metrics.port)["smartstore_agent_outbox_oldest_unacked_seconds"] > 0
    # A worker comes up: what was published before it existed is resent and committed.
    worker = _worker(cloud_url, broker)
    try:
        written = agent.outbox.counters()["written"]
        assert _wait(lambda: _events_in_cloud(cloud_url) >= set(range(1, written + 1)))
        assert _wait(lambda: len(agent.outbox) == 0)
        assert agent.link.tracker.resends >= 5
        assert agent.link.committed_through >= written
        state = agent.link.delivery_state()
        assert (state.pending, state.oldest_unacked_age_s) == (0, None)
        assert agent.metrics is not None
        metrics = _metrics(agent.metrics.port)
        assert metrics["smartstore_agent_outbox_pending"] == 0.0
        assert metrics["smartstore_agent_committed_through"] >= written
        assert metrics["smartstore_agent_broker_connected"] == 1.0
    finally:
        worker.stop()


def test_a_broker_restart_before_the_worker_resubscribes_loses_nothing(
    agent: RunningAgent, sims: Sims, broker: MosquittoBroker, cloud_url: str
) -> None:
    worker = _worker(cloud_url, broker)
    try:
        assert _wait(lambda: worker.subscribed and agent.link is not None and agent.link.connected)
        worker.stop()  # the worker's $share subscription does not survive the broker's restart
        broker.restart()
        assert agent.link is not None
        assert _wait(lambda: agent.link.connected)
        for i in range(5):
            sims.scanner.scan(f"after-restart-{i}")
        assert _wait(lambda: agent.outbox.counters()["written"] >= 5)
        worker = _worker(cloud_url, broker)
        written = agent.outbox.counters()["written"]
        assert _wait(lambda: _events_in_cloud(cloud_url) >= set(range(1, written + 1)))
        assert _wait(lambda: len(agent.outbox) == 0)
    finally:
        worker.stop()
