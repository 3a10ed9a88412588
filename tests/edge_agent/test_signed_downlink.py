"""Issue 12, signed downlink and commands, through a real Mosquitto and a real agent.

Each test reproduces a hole of the unsigned downlink: on the code before the signed envelope,
the forged revocation list (version 10**12) was applied and froze revocations, a forged
issuer-keys snapshot replaced the keys, unsigned, month-old and future commands unlocked the
door, and a restarted agent executed the same correlation id again.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contracts.member_code import IssuerKey
from contracts.messages import DeliveryAck, UnlockCommand, dump
from contracts.signing import DownlinkKeys
from contracts.sync import IssuerKeys, RevocationList
from contracts.topics import Topics
from edge_agent.bootstrap import RunningAgent, build_agent
from edge_agent.config import AgentSettings
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.signing import TEST_CLOUD, pinned, signed, signer_from_seed
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings
from tests.edge_agent.helpers import STORE, Members

ON = bytes.fromhex("a00101a2")
T = Topics(STORE)
ATTACKER = signer_from_seed("someone who is not the cloud")


@pytest.fixture
def cloud(broker: MosquittoBroker) -> Iterator[Callable[..., None]]:
    """Publish to the store as anyone would (``publish(topic, payload, retain=...)``)."""
    client = broker.login(mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pretend-cloud"))  # a compromised broker
    client.connect(broker.host, broker.port)
    client.loop_start()

    def publish(topic: str, payload: bytes, *, retain: bool = False) -> None:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    try:
        yield publish
    finally:
        client.loop_stop()
        client.disconnect()


def _start(settings: AgentSettings) -> RunningAgent:
    running = build_agent(settings)
    assert running.link is not None
    assert running.link.subscribed.wait(10), "the agent's subscriptions were not acknowledged"  # commands reach it
    return running


@pytest.fixture
def settings(tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members) -> AgentSettings:
    return AgentSettings.model_validate(agent_settings(tmp_path, sims, broker, members))


@pytest.fixture
def agent(settings: AgentSettings) -> Iterator[RunningAgent]:
    running = _start(settings)
    try:
        yield running
    finally:
        running.stop()


def _alarms(sub: Subscriber) -> list[dict]:
    return [p for p in sub.payloads() if p.get("alarm") == "downlink_refused"]


def _reply(sub: Subscriber, correlation_id: str) -> dict:
    marker = f'"correlation_id":"{correlation_id}"'.encode()
    assert sub.wait_for(lambda msgs: any(t.endswith("/reply") and marker in p for t, p, _ in msgs), 10)
    return json.loads(next(p for t, p, _ in sub.messages if t.endswith("/reply") and marker in p))


def _applied(sub: Subscriber, channel: str, version: int) -> bool:
    def seen(msgs: list[tuple[str, bytes, bool]]) -> bool:
        return any(
            b'"sync_applied"' in p and json.loads(p)["channel"] == channel and json.loads(p)["version"] == version
            for t, p, _ in msgs
            if "/events/" in t
        )

    return sub.wait_for(seen, 10)


def test_a_forged_revocation_list_is_refused_and_real_updates_still_apply(
    agent: RunningAgent, cloud: Callable[..., None], subscriber: Subscriber, sims: Sims, members: Members
) -> None:
    topic = T.sync_snapshot("revocations")
    forged = dump(RevocationList(version=10**12, revoked_member_ids=[]))
    cloud(topic, forged, retain=True)  # unsigned
    cloud(topic, signed(topic, forged, signer=ATTACKER), retain=True)  # signed, by the wrong key
    assert subscriber.wait_for(lambda msgs: len(_alarms(subscriber)) >= 2, 10)
    assert {a["detail"].split(" ")[0] for a in _alarms(subscriber)} == {"unsigned", "unknown_key"}
    assert agent.agent.sync is not None and agent.agent.sync.synced.versions["revocations"] == 0
    real = dump(RevocationList(version=4, revoked_member_ids=["m-bad"]))
    cloud(topic, signed(topic, real, fleet=True), retain=True)
    assert _applied(subscriber, "revocations", 4)
    sims.scanner.scan(members.code("m-bad", time.time()))
    assert subscriber.wait_for(lambda msgs: any(b'"revoked"' in p for _, p, _ in msgs), 5)
    # a signed but older snapshot (a replayed retained message) cannot roll the channel back
    cloud(topic, signed(topic, dump(RevocationList(version=3, revoked_member_ids=[])), fleet=True), retain=True)
    assert subscriber.wait_for(lambda msgs: any("rolled_back" in a["detail"] for a in _alarms(subscriber)), 10)
    assert agent.agent.sync.synced.revoked_member_ids == {"m-bad"}


def test_a_forged_issuer_keys_snapshot_is_refused(
    agent: RunningAgent, cloud: Callable[..., None], subscriber: Subscriber, sims: Sims, members: Members
) -> None:
    rogue = IssuerKey.generate()
    keys = IssuerKeys(version=99, keys={rogue.kid.hex(): base64.b64encode(rogue.public_raw).decode()})
    topic = T.sync_snapshot("keys")
    cloud(topic, signed(topic, dump(keys), signer=ATTACKER), retain=True)
    assert subscriber.wait_for(lambda msgs: len(_alarms(subscriber)) >= 1, 10)
    rogue_members = Members(issuer=rogue)
    sims.scanner.scan(rogue_members.code("m-rogue", time.time()))
    assert subscriber.wait_for(lambda msgs: any(b'"unknown_key"' in p for _, p, _ in msgs), 5)
    time.sleep(1.2)  # past the scanner's debounce
    sims.scanner.scan(members.code("m-1", time.time()))
    assert subscriber.wait_for(lambda msgs: any(b'"access_granted"' in p for _, p, _ in msgs), 5)


def test_unsigned_stale_and_future_commands_are_refused_with_their_reason(
    agent: RunningAgent, cloud: Callable[..., None], subscriber: Subscriber, sims: Sims
) -> None:
    topic = T.command("unlock")
    now = datetime.now(UTC)
    cloud(topic, dump(UnlockCommand(correlation_id="unsigned", expires_at=now + timedelta(seconds=30))))
    assert _reply(subscriber, "unsigned")["status"] == "error"
    assert "unsigned" in _reply(subscriber, "unsigned")["error"]
    forged = dump(UnlockCommand(correlation_id="forged", expires_at=now + timedelta(seconds=30)))
    cloud(topic, signed(topic, forged, signer=ATTACKER))
    assert "unknown_key" in _reply(subscriber, "forged")["error"]
    stale = UnlockCommand(
        correlation_id="stale", issued_at=now - timedelta(days=30), expires_at=now + timedelta(days=365)
    )
    cloud(topic, signed(topic, dump(stale)))
    assert _reply(subscriber, "stale")["status"] == "expired"
    future = UnlockCommand(
        correlation_id="future", issued_at=now + timedelta(hours=1), expires_at=now + timedelta(hours=2)
    )
    cloud(topic, signed(topic, dump(future)))
    reply = _reply(subscriber, "future")
    assert reply["status"] == "rejected" and "future" in reply["error"]
    assert not any(h.on for h in sims.lcus.history)
    stats = agent.agent.stats
    assert stats.downlink_refused == {"unsigned": 1, "unknown_key": 1}
    assert stats.commands_refused["error"] == 2 and stats.commands_refused["expired"] == 1


def test_the_same_correlation_id_does_not_unlock_again_after_a_restart(
    settings: AgentSettings, cloud: Callable[..., None], subscriber: Subscriber, sims: Sims
) -> None:
    topic = T.command("unlock")
    now = datetime.now(UTC)
    command = signed(
        topic, dump(UnlockCommand(correlation_id="once", expires_at=now + timedelta(seconds=60), duration_s=0.3))
    )
    first = _start(settings)
    try:
        cloud(topic, command)
        assert sims.lcus_host.wait_for(ON, 5) > 0
        assert _reply(subscriber, "once")["status"] == "ok"
    finally:
        first.stop()
    sims.lcus_host.clear_received()
    unlocks = sum(1 for h in sims.lcus.history if h.on)
    second = _start(settings)
    try:
        cloud(topic, command)  # captured and replayed, or redelivered after the restart
        marker = b'"correlation_id":"once"'
        assert subscriber.wait_for(
            lambda msgs: sum(1 for t, p, _ in msgs if t.endswith("/reply") and marker in p) >= 2, 10
        )
        assert second.agent.wait_idle()
        assert sum(1 for h in sims.lcus.history if h.on) == unlocks
        assert second.agent.stats.commands_refused == {"duplicate": 1}
    finally:
        second.stop()


def test_a_key_rotation_is_accepted_only_when_signed_by_the_pinned_key(
    settings: AgentSettings, cloud: Callable[..., None], subscriber: Subscriber
) -> None:
    new = signer_from_seed("the next downlink key")
    topic = T.downlink_keys
    announced = dump(DownlinkKeys.of(2, [new.public_key]))
    running = _start(settings)
    try:
        cloud(topic, signed(topic, announced, signer=ATTACKER), retain=True)
        assert subscriber.wait_for(lambda msgs: len(_alarms(subscriber)) >= 1, 10)
        assert running.agent.sync is not None
        cloud(topic, signed(topic, announced, signer=new), retain=True)  # the new key cannot vouch for itself
        snap = T.sync_snapshot("revocations")
        cloud(snap, signed(snap, dump(RevocationList(version=1, revoked_member_ids=["a"])), signer=new), retain=True)
        assert subscriber.wait_for(lambda msgs: running.agent.stats.downlink_refused.get("unknown_key", 0) >= 3, 10)
        assert running.agent.sync.synced.versions["revocations"] == 0
        # signed by the pinned key: accepted, and the held snapshot signed by the new key is applied
        cloud(topic, signed(topic, announced, signer=TEST_CLOUD, fleet=True), retain=True)
        assert _applied(subscriber, "revocations", 1)
        cloud(snap, signed(snap, dump(RevocationList(version=2, revoked_member_ids=["b"]))), retain=True)
        assert subscriber.wait_for(lambda msgs: running.agent.stats.downlink_refused.get("unknown_key", 0) >= 4, 10)
        assert running.agent.sync.synced.versions["revocations"] == 1  # the old key is no longer pinned
    finally:
        running.stop()
    saved = json.loads((settings.data_dir / "downlink-keys.json").read_text())
    assert saved["version"] == 2 and list(saved["keys"]) == [new.kid]
    assert oct((settings.data_dir / "downlink-keys.json").stat().st_mode & 0o777) == "0o600"
    again = _start(settings)  # the rotation survives a restart
    try:
        cloud(snap, signed(snap, dump(RevocationList(version=3, revoked_member_ids=["c"])), signer=new), retain=True)
        assert _applied(subscriber, "revocations", 3)
    finally:
        again.stop()


def test_an_agent_without_a_pinned_key_refuses_all_downlink(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members, cloud: Callable[..., None]
) -> None:
    raw = agent_settings(tmp_path, sims, broker, members)
    raw["downlink_keys_file"] = None
    running = _start(AgentSettings.model_validate(raw))
    try:
        topic = T.command("unlock")
        cmd = UnlockCommand(correlation_id="k", expires_at=datetime.now(UTC) + timedelta(seconds=30))
        cloud(topic, signed(topic, dump(cmd)))
        deadline = time.monotonic() + 5
        while not running.agent.stats.downlink_refused and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running.agent.stats.downlink_refused == {"no_keys": 1}
        assert not any(h.on for h in sims.lcus.history)
    finally:
        running.stop()


def test_a_flood_of_forged_messages_raises_one_alarm_not_thousands(
    agent: RunningAgent, cloud: Callable[..., None], subscriber: Subscriber
) -> None:
    topic = T.sync_delta("revocations")
    for i in range(200):
        cloud(topic, json.dumps({"forged": i}).encode())
    deadline = time.monotonic() + 10
    while agent.agent.stats.downlink_refused.get("unsigned", 0) < 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert agent.agent.stats.downlink_refused == {"unsigned": 200}
    assert subscriber.wait_for(lambda msgs: len(_alarms(subscriber)) >= 1, 10)
    assert agent.agent.wait_idle()
    assert len(_alarms(subscriber)) == 1 and len(agent.outbox) < 10


def test_pinned_helper_is_what_the_fixtures_pin() -> None:
    assert list(pinned().keys) == [TEST_CLOUD.kid]


def test_a_retained_forged_command_is_answered_and_never_executed(
    settings: AgentSettings, cloud: Callable[..., None], subscriber: Subscriber
) -> None:
    topic = T.command("lockdown")
    forged = dump(UnlockCommand(correlation_id="sticky", expires_at=datetime.now(UTC) + timedelta(hours=1)))
    cloud(topic, forged, retain=True)  # left on the broker before the agent connects
    running = _start(settings)
    try:
        assert "unsigned" in _reply(subscriber, "sticky")["error"]
        # The agent asks the broker to clear it, but a store may not publish commands (ACL): only
        # the cloud could have left it, and only the cloud can clear it.
        assert running.agent.door is not None and not running.agent.door.controller.lockdown
    finally:
        running.stop()


def test_a_forged_delivery_acknowledgement_forgets_nothing(
    tmp_path: Path,
    sims: Sims,
    broker: MosquittoBroker,
    members: Members,
    cloud: Callable[..., None],
    subscriber: Subscriber,
) -> None:
    raw = agent_settings(tmp_path, sims, broker, members)
    raw["mqtt"] |= {"delivery": "cloud", "ack_timeout_s": 600}  # nobody else acknowledges in this test
    running = _start(AgentSettings.model_validate(raw))
    try:
        sims.scanner.scan("not a member code")
        assert subscriber.wait_for(lambda msgs: any(b'"access_denied"' in p for _, p, _ in msgs), 10)
        denied = next(p for p in subscriber.payloads() if p.get("type") == "access_denied")
        event_id = denied["event_id"]
        ack = dump(DeliveryAck(store_id=STORE, event_ids=[event_id]))
        cloud(T.ack, ack)  # unsigned: a forged acknowledgement would make the store drop the event
        cloud(T.ack, signed(T.ack, ack, signer=ATTACKER))
        assert subscriber.wait_for(lambda msgs: len(_alarms(subscriber)) >= 2, 10)
        assert running.outbox.holds([event_id]) == {event_id}
        cloud(T.ack, signed(T.ack, ack))  # the cloud's own
        deadline = time.monotonic() + 10
        while running.outbox.holds([event_id]) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running.outbox.holds([event_id]) == set()
    finally:
        running.stop()
