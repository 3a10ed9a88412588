"""Downlink bookkeeping (pure) and the agent applying a revocation pushed over MQTT."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contracts.member_code import IssuerKey
from contracts.messages import dump
from contracts.sync import (
    CatalogDelta,
    CatalogProduct,
    CatalogSnapshot,
    IssuerKeys,
    RevocationDelta,
    RevocationList,
)
from edge_agent.bootstrap import RunningAgent, build_agent, load_synced
from edge_agent.config import AgentSettings
from edge_agent.domain.synced import Applied, RolledBack, SyncedData
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.signing import signed
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings
from tests.edge_agent.helpers import STORE, Members


def _product(pid: str, price: int = 100) -> CatalogProduct:
    return CatalogProduct(id=pid, name=pid, price_cents=price)


def test_snapshot_then_deltas_in_order() -> None:
    data = SyncedData()
    assert data.apply(CatalogSnapshot(version=3, products=[_product("a"), _product("b")]), snapshot=True) == Applied(
        "catalog", 3
    )
    assert data.apply(
        CatalogDelta(from_version=3, version=4, upsert_products=[_product("a", 150)], remove_product_ids=["b"]),
        snapshot=False,
    ) == Applied("catalog", 4)
    assert set(data.products) == {"a"} and data.products["a"].price_cents == 150


def test_redelivered_and_gapped_deltas_are_not_applied() -> None:
    data = SyncedData()
    data.apply(RevocationList(version=2, revoked_member_ids=["m1"]), snapshot=True)
    assert data.apply(RevocationDelta(from_version=1, version=2, add_member_ids=["x"]), snapshot=False) is None
    assert data.apply(RevocationDelta(from_version=5, version=6, add_member_ids=["m9"]), snapshot=False) is None
    assert "revocations" in data.stale and "m9" not in data.revoked_member_ids
    # the retained snapshot heals the gap, even at the same version number the store thinks it has
    assert data.apply(RevocationList(version=6, revoked_member_ids=["m1", "m9"]), snapshot=True) == Applied(
        "revocations", 6
    )
    assert data.stale == set()
    assert isinstance(data.apply(RevocationList(version=5, revoked_member_ids=[]), snapshot=True), RolledBack)
    assert data.revoked_member_ids == {"m1", "m9"}


def test_json_roundtrip_keeps_everything() -> None:
    data = SyncedData()
    key = IssuerKey.generate()
    data.apply(IssuerKeys(version=1, keys={key.kid.hex(): base64.b64encode(key.public_raw).decode()}), snapshot=True)
    data.apply(RevocationList(version=1, revoked_member_ids=["m1"], revoked_phone_keys=["ab" * 32]), snapshot=True)
    data.apply(CatalogSnapshot(version=1, products=[_product("a")]), snapshot=True)
    again = SyncedData.from_json(json.loads(json.dumps(data.to_json())))
    assert again.versions == data.versions
    assert again.issuer_keys == {key.kid: key.public_raw}
    assert again.revoked_phone_keys == {bytes.fromhex("ab" * 32)}
    assert again.products == data.products


@pytest.fixture
def running(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> Iterator[RunningAgent]:
    settings = AgentSettings.model_validate(agent_settings(tmp_path, sims, broker, members))
    agent = build_agent(settings)
    assert subscriber.wait_for(lambda msgs: any(p == b"online" for _, p, _ in msgs), 10)
    yield agent
    agent.stop()


def test_pushed_revocation_refuses_the_member_and_survives_restart(
    tmp_path: Path, running: RunningAgent, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    cloud = broker.login(mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cloud-sync"))
    cloud.connect(broker.host, broker.port)
    cloud.loop_start()
    try:
        topic = f"smartstore/v1/{STORE}/sync/revocations/snapshot"
        t0 = time.monotonic()
        cloud.publish(
            topic, signed(topic, dump(RevocationList(version=7, revoked_member_ids=["m-bad"]))), qos=1, retain=True
        ).wait_for_publish(5)
        ok = subscriber.wait_for(
            lambda msgs: any(b'"sync_applied"' in p and b'"revocations"' in p for _, p, _ in msgs), 5
        )
        assert ok, ([t for t, _, _ in subscriber.messages], running.agent.stats)
        assert time.monotonic() - t0 < 5
        delta_topic = f"smartstore/v1/{STORE}/sync/revocations/delta"
        cloud.publish(delta_topic, signed(delta_topic, b"{garbage"), qos=1).wait_for_publish(5)
        sims.scanner.scan(members.code("m-bad", time.time()))
        assert subscriber.wait_for(lambda msgs: any(b'"revoked"' in p for _, p, _ in msgs), 5)
        deadline = time.monotonic() + 5  # the bad delta is counted on paho's thread
        while running.agent.stats.bad_sync == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running.agent.stats.bad_sync == 1
    finally:
        cloud.loop_stop()
        cloud.disconnect()
    saved = load_synced(tmp_path / "data" / "synced.json")
    assert saved.versions["revocations"] == 7 and saved.revoked_member_ids == {"m-bad"}


def test_synced_keys_and_revocations_reach_every_checkout_verifier() -> None:
    from contracts.topics import Topics
    from edge_agent.domain.access import AccessPolicy, AccessVerifier
    from edge_agent.services.checkout import CheckoutService
    from edge_agent.services.events import EventEmitter
    from edge_agent.services.sync import SyncService
    from tests.edge_agent.helpers import make_controller

    key = IssuerKey.generate()
    data = SyncedData()
    data.apply(IssuerKeys(version=1, keys={key.kid.hex(): base64.b64encode(key.public_raw).decode()}), snapshot=True)
    data.apply(RevocationList(version=2, revoked_member_ids=["m-x"]), snapshot=True)
    door, _, _ = make_controller()
    checkout_verifier = AccessVerifier(STORE, {}, AccessPolicy())

    class Station:
        verifier = checkout_verifier

    emitter = EventEmitter(None, Topics(STORE))  # type: ignore[arg-type]
    checkout = CheckoutService({"co1": Station()}, emitter)  # type: ignore[dict-item]
    SyncService(data, emitter, verifiers=[door.verifier, *checkout.verifiers()])
    for verifier in (door.verifier, checkout_verifier):
        assert verifier.trusted_keys == {key.kid: key.public_raw}
        assert verifier.revocations.member_ids == {"m-x"}


def test_a_higher_epoch_resets_versions_and_a_lower_one_is_refused() -> None:
    data = SyncedData()
    data.apply(RevocationList(version=9, revoked_member_ids=["m1"]), snapshot=True)
    # the cloud's database was restored from a backup (version 2) and the operator raised the epoch
    assert data.apply(RevocationDelta(epoch=1, from_version=1, version=2), snapshot=False) is None  # not a reset
    assert data.apply(RevocationList(epoch=1, version=2, revoked_member_ids=["m2"]), snapshot=True) == Applied(
        "revocations", 2
    )
    assert data.revoked_member_ids == {"m2"} and data.epochs["revocations"] == 1
    assert data.apply(RevocationDelta(epoch=1, from_version=2, version=3, add_member_ids=["m3"]), snapshot=False)
    old = data.apply(RevocationList(epoch=0, version=10, revoked_member_ids=[]), snapshot=True)
    assert isinstance(old, RolledBack) and "epoch 0" in old.detail
    assert data.revoked_member_ids == {"m2", "m3"}
    assert SyncedData.from_json(json.loads(json.dumps(data.to_json()))).epochs["revocations"] == 1


def test_refusal_alarms_are_rate_limited_per_reason() -> None:
    from edge_agent.domain.trust import RefusalLimiter

    limiter = RefusalLimiter(every_s=60)
    assert limiter.allow("unsigned", 0.0) == 0
    assert [limiter.allow("unsigned", t) for t in (1.0, 2.0, 59.0)] == [None, None, None]
    assert limiter.allow("bad_signature", 3.0) == 0  # another reason has its own budget
    assert limiter.allow("unsigned", 60.0) == 3  # the next alarm says how many were not alarmed
