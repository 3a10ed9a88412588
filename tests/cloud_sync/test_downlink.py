"""Downlink: retained snapshots/manifest for catch-up, live deltas, revocation latency."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud_sync import downlink_key
from cloud_sync.config import CloudSettings
from cloud_sync.main import create_app
from contracts.messages import SyncApplied, dump
from contracts.signing import open_envelope
from contracts.sync import CatalogSnapshot, RevocationDelta, RevocationList, SyncManifest, parse_delta, parse_snapshot
from contracts.topics import Topics
from tests.cloud_sync.conftest import Publisher, Recorder, wait_until

STORES = [f"st{i:02d}" for i in range(20)]


KEYS: dict[str, Ed25519PublicKey] = {}


def inner(topic: str, payload: bytes) -> bytes:
    """Verify a downlink message with the live publisher's key and return its payload."""
    return open_envelope(payload, topic=topic, store_id=topic.split("/")[2], keys=KEYS)


@pytest.fixture
def live(settings: CloudSettings, engine: Engine, broker: Any, tmp_path: Path) -> Iterator[TestClient]:
    """The app with its downlink publisher connected to the test broker."""
    s = settings.model_copy(
        update=broker.cloud("downlink")
        | {
            "downlink_enabled": True,
            "downlink_interval_s": 0.5,
            "downlink_key_file": tmp_path / "downlink-key.json",
        }
    )
    KEYS.clear()
    KEYS.update(downlink_key.load_or_create(s.downlink_key_file).announcement().public_keys())
    with TestClient(create_app(s, engine=engine)) as c:
        assert wait_until(lambda: c.app.state.downlink.connected.is_set())  # type: ignore[attr-defined]
        yield c


def _retained(rec: Recorder, topic: str) -> bytes | None:
    with rec.lock:
        found = [p for t, p, _, _ in rec.messages if t == topic]
    return inner(topic, found[-1]) if found else None


def test_revocation_reaches_every_online_store_within_5s_p99(live: TestClient, op: dict[str, str], broker: Any) -> None:
    for s in STORES:
        assert live.post("/api/v1/stores", json={"id": s, "name": s}, headers=op).status_code == 201
    members = [f"m{i:02d}" for i in range(20)]
    for m in members:
        live.post("/api/v1/members", json={"id": m, "name": m}, headers=op)
    stores = Recorder(broker, ["smartstore/v1/+/sync/revocations/delta", "smartstore/v1/+/sync/manifest"])
    try:
        assert stores.wait_for(
            lambda msgs: {t.split("/")[2] for t, *_ in msgs if t.endswith("manifest")} >= set(STORES), 15
        )
        sent: dict[str, float] = {}
        for m in members:
            sent[m] = time.monotonic()
            assert live.post(f"/api/v1/members/{m}/revoke", json={"reason": "test"}, headers=op).status_code == 200

        def arrivals(msgs: list[tuple[str, bytes, float, bool]]) -> dict[tuple[str, str], float]:
            out: dict[tuple[str, str], float] = {}
            for topic, payload, at, _ in msgs:
                if topic.endswith("revocations/delta"):
                    delta = parse_delta("revocations", inner(topic, payload))
                    assert isinstance(delta, RevocationDelta)
                    for m in delta.add_member_ids:
                        out.setdefault((topic.split("/")[2], m), at)
            return out

        assert stores.wait_for(lambda msgs: len(arrivals(msgs)) == len(STORES) * len(members), 30)
        with stores.lock:
            got = arrivals(list(stores.messages))
        latencies = sorted(at - sent[m] for (_s, m), at in got.items())
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        print(
            f"\nrevocation latency over {len(latencies)} (store, member) pairs: "
            f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
        )
        assert p99 <= 5.0
    finally:
        stores.close()


def test_an_agent_offline_for_a_while_catches_up_from_retained_snapshots(
    live: TestClient,
    op: dict[str, str],
    broker: Any,
    auth: Callable[..., dict[str, str]],
    worker_factory: Callable[..., Any],
    publisher: Publisher,
) -> None:
    store = "shop1"
    t = Topics(store)
    live.post("/api/v1/stores", json={"id": store, "name": "Shop"}, headers=op)
    live.post("/api/v1/products", json={"id": "p1", "name": "Bread", "price_cents": 250}, headers=op)
    now = live.get("/api/v1/sync/manifest", headers=op).json()["versions"]
    agent = Recorder(broker, [f"{t.base}/sync/#"])
    # the manifest published for the new store may come before the one that includes p1: wait for p1's
    assert agent.wait_for(
        lambda m: (
            (SyncManifest.model_validate_json(p).versions == now)
            if (p := _retained(agent, t.sync("manifest")))
            else False
        ),
        10,
    )
    first = SyncManifest.model_validate_json(_retained(agent, t.sync("manifest")) or b"")
    agent.close()  # the store goes offline...
    live.post("/api/v1/products", json={"id": "p2", "name": "Milk", "price_cents": 120}, headers=op)
    live.post("/api/v1/products/p1/prices", json={"price_cents": 199}, headers=op)
    live.post("/api/v1/members", json={"id": "eve", "name": "Eve"}, headers=op)
    live.post("/api/v1/members/eve/revoke", json={}, headers=op)
    live.post("/api/v1/coupons", json={"id": "cx", "member_id": "eve", "kind": "amount", "value": 50}, headers=op)
    versions = live.get("/api/v1/sync/manifest", headers=op).json()["versions"]
    assert versions["catalog"] == first.versions["catalog"] + 2
    time.sleep(1.0)
    # ...and comes back: the retained manifest and snapshots give it everything at once.
    back = Recorder(broker, [f"{t.base}/sync/#"])
    try:
        assert back.wait_for(
            lambda m: (
                (SyncManifest.model_validate_json(p).versions == versions)
                if (p := _retained(back, t.sync("manifest")))
                else False
            ),
            10,
        )
        catalog = parse_snapshot("catalog", _retained(back, t.sync("catalog/snapshot")) or b"")
        assert isinstance(catalog, CatalogSnapshot)
        assert catalog.version == versions["catalog"]
        prices = {p.id: p.price_cents for p in catalog.products}
        assert prices == {"p1": 199, "p2": 120}
        revs = parse_snapshot("revocations", _retained(back, t.sync("revocations/snapshot")) or b"")
        assert isinstance(revs, RevocationList)
        assert revs.revoked_member_ids == ["eve"]
        coupons = json.loads(_retained(back, t.sync("coupons/snapshot")) or b"{}")
        assert [c["id"] for c in coupons["coupons"]] == ["cx"]
        assert all(retained for topic, _, _, retained in back.messages if topic.endswith(("snapshot", "manifest")))
    finally:
        back.close()
    # Pull endpoint: exactly the deltas it missed.
    dev = auth("device", store)
    pulled = live.get("/api/v1/sync/catalog", params={"since": first.versions["catalog"]}, headers=dev).json()
    assert [d["version"] for d in pulled["deltas"]] == [first.versions["catalog"] + 1, versions["catalog"]]
    # The agent reports what it applied; the cloud records it per store.
    worker_factory()
    publisher.publish(
        t.event("sync_applied"), dump(SyncApplied(store_id=store, channel="catalog", version=versions["catalog"]))
    )
    assert wait_until(
        lambda: (
            live.get(f"/api/v1/stores/{store}", headers=op).json()["sync_versions"].get("catalog")
            == versions["catalog"]
        )
    )


def test_live_deltas_follow_versions_without_gaps(live: TestClient, op: dict[str, str], broker: Any) -> None:
    live.post("/api/v1/stores", json={"id": "s1", "name": "S"}, headers=op)
    rec = Recorder(broker, ["smartstore/v1/s1/sync/catalog/delta", "smartstore/v1/s1/sync/manifest"])
    try:
        assert rec.wait_for(lambda m: any(t.endswith("manifest") for t, *_ in m), 10)
        for i in range(5):
            live.post("/api/v1/products", json={"id": f"p{i}", "name": f"P{i}", "price_cents": 100 + i}, headers=op)
        assert rec.wait_for(lambda m: sum(1 for t, *_ in m if t.endswith("delta")) >= 5, 10)
        deltas = [json.loads(inner(t, p)) for t, p, _, _ in rec.messages if t.endswith("delta")]
        assert [(d["from_version"], d["version"]) for d in deltas] == [(i, i + 1) for i in range(5)]
        assert [d["upsert_products"][0]["id"] for d in deltas] == [f"p{i}" for i in range(5)]
    finally:
        rec.close()


def test_a_real_agent_applies_what_the_real_publisher_signs_and_follows_a_key_rotation(
    live: TestClient, op: dict[str, str], broker: Any, tmp_path: Path, engine: Engine
) -> None:
    from cloud_sync.db.session import make_session_factory
    from cloud_sync.downlink import DownlinkPublisher
    from edge_agent.bootstrap import build_agent
    from edge_agent.config import AgentSettings
    from tests.edge_agent.conftest import agent_settings, start_sims
    from tests.edge_agent.helpers import STORE, Members

    settings: CloudSettings = live.app.state.settings  # type: ignore[attr-defined]
    assert settings.downlink_key_file is not None
    pinned = tmp_path / "agent-downlink-keys.json"  # what enrolment writes: `cloud downlink-key show --json`
    pinned.write_bytes(dump(downlink_key.load(settings.downlink_key_file).announcement()))
    live.post("/api/v1/stores", json={"id": STORE, "name": "Store"}, headers=op)
    live.post("/api/v1/members", json={"id": "m-bad", "name": "Bad"}, headers=op)
    with start_sims(tmp_path) as sims:
        raw = agent_settings(tmp_path, sims, broker, Members())
        raw["downlink_keys_file"] = str(pinned)
        agent = build_agent(AgentSettings.model_validate(raw))
        try:
            sync = agent.agent.sync
            assert sync is not None
            assert live.post("/api/v1/members/m-bad/revoke", json={}, headers=op).status_code == 200
            assert wait_until(lambda: "m-bad" in sync.synced.revoked_member_ids, 15)
            assert agent.agent.stats.downlink_refused == {}
            # rotate: the next publisher signs with the new key and announces it with the old one
            rotated = downlink_key.rotate(settings.downlink_key_file)
            live.app.state.downlink.stop()  # type: ignore[attr-defined]
            publisher = DownlinkPublisher(settings, make_session_factory(engine), keys=rotated)
            publisher.start(wait_s=5)
            live.app.state.downlink = publisher  # type: ignore[attr-defined]  # the API wakes it after commits
            try:
                live.post("/api/v1/members", json={"id": "m-2", "name": "Two"}, headers=op)
                assert live.post("/api/v1/members/m-2/revoke", json={}, headers=op).status_code == 200
                publisher.wake()
                assert wait_until(lambda: "m-2" in sync.synced.revoked_member_ids, 15)
                assert wait_until(lambda: (tmp_path / "data" / "downlink-keys.json").exists(), 5)
                kept = json.loads((tmp_path / "data" / "downlink-keys.json").read_text())
                assert set(kept["keys"]) == {rotated.active.kid, rotated.announcer.kid}
                assert agent.agent.stats.downlink_refused == {}
            finally:
                publisher.stop()
        finally:
            agent.stop()
