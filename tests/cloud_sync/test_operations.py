"""Operator actions: commands signed to a store and its replies recorded, alarm acknowledgement, the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.client import CallbackAPIVersion
from sqlalchemy import Engine, update

from cloud_sync.config import CloudSettings
from cloud_sync.db.models import OperatorCommand
from cloud_sync.db.session import make_session_factory
from cloud_sync.main import create_app
from cloud_sync.services.events import record_events
from cloud_sync.services.store_state import apply_alarms
from contracts.messages import AlarmCleared, AlarmKind, AlarmRaised, CommandReply, dump, parse_command
from contracts.topics import Topics
from smartstore.testing.signing import unwrap
from tests.cloud_sync.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]


class FakeStore:
    """A store's MQTT side that verifies every command's signature and answers it as told."""

    def __init__(self, broker: Any, store_id: str, status: str = "ok") -> None:
        """Log in as the store and subscribe to its commands."""
        self.topics = Topics(store_id)
        self.status = status
        self.received: list[Any] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{store_id}-{uuid.uuid4().hex[:6]}")
        login = broker.store_login(store_id)
        self.client.username_pw_set(login.username, login.password)
        self.client.on_connect = lambda c, *_a: c.subscribe(self.topics.commands_filter, qos=1)
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        cmd = parse_command(unwrap(msg.topic, bytes(msg.payload)))  # raises on a forgery: nothing is answered
        self.received.append(cmd)
        error = None if self.status == "ok" else "store is in lockdown"
        reply = CommandReply(correlation_id=cmd.correlation_id, name=cmd.name, status=self.status, error=error)
        client.publish(self.topics.reply(cmd.name), dump(reply), qos=1)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def live(settings: CloudSettings, engine: Engine, broker: Any) -> Iterator[TestClient]:
    """The app with its downlink publisher on the test broker, signing with the test key."""
    s = settings.model_copy(update=broker.cloud("downlink") | {"downlink_enabled": True})
    with TestClient(create_app(s, engine=engine)) as c:
        assert wait_until(lambda: c.app.state.downlink.connected.is_set())  # type: ignore[attr-defined]
        yield c


def _store(client: TestClient, op: dict[str, str], store_id: str) -> None:
    assert client.post("/api/v1/stores", json={"id": store_id, "name": store_id}, headers=op).status_code == 201


def test_a_command_is_signed_to_the_store_and_its_reply_recorded_with_latency_and_audited(
    live: TestClient, op: dict[str, str], broker: Any
) -> None:
    store_id = f"ops-{uuid.uuid4().hex[:6]}"
    _store(live, op, store_id)
    fake = FakeStore(broker, store_id)
    try:
        sent = live.post(
            f"/api/v1/stores/{store_id}/commands",
            json={"name": "lockdown", "reason": "smoke seen on camera 2", "args": {"active": True}},
            headers=op,
        )
        assert sent.status_code == 202, sent.text
        body = sent.json()
        assert body["status"] == "sent" and body["args"] == {"active": True}
        cid = body["correlation_id"]
        url = f"/api/v1/commands/{cid}"
        assert wait_until(lambda: live.get(url, headers=op).json()["status"] == "ok")
    finally:
        fake.close()
    done = live.get(url, headers=op).json()
    assert done["latency_ms"] is not None and done["latency_ms"] >= 0 and done["replied_at"]
    (cmd,) = fake.received
    assert cmd.name == "lockdown" and cmd.active is True and cmd.reason == "smoke seen on camera 2"
    assert cmd.issued_by == "test-operator" and cmd.expires_at - cmd.issued_at == timedelta(seconds=60)
    listed = live.get(f"/api/v1/stores/{store_id}/commands", headers=op).json()
    assert [c["correlation_id"] for c in listed["items"]] == [cid]
    (entry,) = live.get(f"/api/v1/audit?store_id={store_id}", headers=op).json()["items"]
    assert entry["action"] == "command.lockdown" and entry["actor"] == "test-operator" and entry["target"] == cid


def test_a_refusal_is_recorded_as_the_store_said_it(live: TestClient, op: dict[str, str], broker: Any) -> None:
    store_id = f"ops-{uuid.uuid4().hex[:6]}"
    _store(live, op, store_id)
    fake = FakeStore(broker, store_id, status="rejected")
    try:
        cid = live.post(
            f"/api/v1/stores/{store_id}/commands",
            json={"name": "unlock", "reason": "member stuck outside", "args": {"duration_s": 3}},
            headers=op,
        ).json()["correlation_id"]
        assert wait_until(lambda: live.get(f"/api/v1/commands/{cid}", headers=op).json()["status"] == "rejected")
    finally:
        fake.close()
    assert live.get(f"/api/v1/commands/{cid}", headers=op).json()["reply_error"] == "store is in lockdown"


def test_a_reply_from_another_store_or_a_second_reply_changes_nothing(
    live: TestClient, op: dict[str, str], broker: Any
) -> None:
    store_id, other = f"ops-{uuid.uuid4().hex[:6]}", f"ops-{uuid.uuid4().hex[:6]}"
    _store(live, op, store_id)
    _store(live, op, other)

    def send(reason: str) -> str:
        body = {"name": "reset_occupancy", "reason": reason, "args": {}}
        return str(live.post(f"/api/v1/stores/{store_id}/commands", json=body, headers=op).json()["correlation_id"])

    def status(cid: str) -> str:
        return str(live.get(f"/api/v1/commands/{cid}", headers=op).json()["status"])

    def answer(client: mqtt.Client, store: str, cid: str, result: str, error: str | None = None) -> None:
        reply = CommandReply(correlation_id=cid, name="reset_occupancy", status=result, error=error)
        client.publish(Topics(store).reply("reset_occupancy"), dump(reply), qos=1).wait_for_publish(5)

    cid, marker = send("head count"), send("marker")
    spoof, honest = FakeStore(broker, other), FakeStore(broker, store_id)
    try:
        answer(spoof.client, other, cid, "ok")  # store "other" answers for store_id on its own reply topic
        answer(honest.client, store_id, cid, "rejected", "first")
        answer(honest.client, store_id, cid, "ok")  # a redelivered or changed reply: the first one stands
        answer(honest.client, store_id, marker, "ok")
        # One publisher, one subscriber connection: replies are recorded in the order they were sent.
        assert wait_until(lambda: status(marker) == "ok")
    finally:
        spoof.close()
        honest.close()
    got = live.get(f"/api/v1/commands/{cid}", headers=op).json()
    assert got["status"] == "rejected" and got["reply_error"] == "first"


def test_an_unanswered_command_says_so_after_its_lifetime(live: TestClient, op: dict[str, str], engine: Engine) -> None:
    store_id = f"ops-{uuid.uuid4().hex[:6]}"
    _store(live, op, store_id)  # nobody listens for this store
    cid = live.post(
        f"/api/v1/stores/{store_id}/commands",
        json={"name": "set_mode", "reason": "late opening", "args": {"mode": "day"}},
        headers=op,
    ).json()["correlation_id"]
    assert live.get(f"/api/v1/commands/{cid}", headers=op).json()["status"] == "sent"
    with make_session_factory(engine).begin() as session:
        session.execute(
            update(OperatorCommand)
            .where(OperatorCommand.correlation_id == cid)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert live.get(f"/api/v1/commands/{cid}", headers=op).json()["status"] == "unanswered"


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"name": "unlock", "reason": "x", "args": {"duration_s": 600}}, 422, "duration_s"),
        ({"name": "set_mode", "reason": "x", "args": {"mode": "party"}}, 422, "mode"),
        ({"name": "lockdown", "reason": "x", "args": {"active": True, "doors": 3}}, 422, "not doors"),
        ({"name": "resolve_review", "reason": "x", "args": {}}, 422, "station_id"),
        ({"name": "lockdown", "reason": "", "args": {"active": True}}, 422, "reason"),
        ({"name": "reboot", "reason": "x", "args": {}}, 422, "name"),
    ],
)
def test_bad_commands_are_refused_with_what_is_wrong(
    live: TestClient, op: dict[str, str], body: dict[str, Any], status: int, detail: str
) -> None:
    store_id = f"ops-{uuid.uuid4().hex[:6]}"
    _store(live, op, store_id)
    got = live.post(f"/api/v1/stores/{store_id}/commands", json=body, headers=op)
    assert got.status_code == status and detail in got.text
    assert live.get(f"/api/v1/stores/{store_id}/commands", headers=op).json()["total"] == 0


def test_commands_need_an_operator_a_known_store_and_a_connected_downlink(
    client: TestClient, live: TestClient, op: dict[str, str], auth: Any
) -> None:
    store_id = f"ops-{uuid.uuid4().hex[:6]}"
    _store(live, op, store_id)
    body = {"name": "unlock", "reason": "test", "args": {}}
    assert live.post(f"/api/v1/stores/{store_id}/commands", json=body, headers=auth("technician")).status_code == 403
    assert live.post("/api/v1/stores/nope/commands", json=body, headers=op).status_code == 404
    refused = client.post(f"/api/v1/stores/{store_id}/commands", json=body, headers=op)  # this app has no downlink
    assert refused.status_code == 503 and "not sent" in refused.json()["detail"]
    assert live.get(f"/api/v1/stores/{store_id}/commands", headers=op).json()["total"] == 0


def _alarm(store_id: str, seq: int, raised: bool, at: datetime) -> AlarmRaised | AlarmCleared:
    kind = AlarmRaised if raised else AlarmCleared
    extra: dict[str, Any] = {"severity": "critical", "detail": "door forced"} if raised else {}
    return kind(store_id=store_id, seq=seq, ts=at, alarm=AlarmKind.DOOR_FORCED, source="main", **extra)


def test_an_alarm_is_acknowledged_once_and_a_new_raise_needs_a_new_acknowledgement(
    client: TestClient, op: dict[str, str], engine: Engine
) -> None:
    store_id = f"ops-{uuid.uuid4().hex[:6]}"
    _store(client, op, store_id)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    with make_session_factory(engine).begin() as session:
        apply_alarms(session, [_alarm(store_id, 1, True, t0)])
    key = {"store_id": store_id, "alarm": "door_forced", "source": "main"}
    acked = client.post("/api/v1/alarms/acknowledge", json=key, headers=op)
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "test-operator"
    first_at = acked.json()["acknowledged_at"]
    assert client.post("/api/v1/alarms/acknowledge", json=key, headers=op).json()["acknowledged_at"] == first_at
    with make_session_factory(engine).begin() as session:
        apply_alarms(session, [_alarm(store_id, 2, False, t0 + timedelta(minutes=1))])
    cleared = client.get(f"/api/v1/alarms?store_id={store_id}", headers=op).json()["items"][0]
    assert cleared["active"] is False and cleared["acknowledged_by"] == "test-operator"  # the clear keeps who saw it
    with make_session_factory(engine).begin() as session:
        apply_alarms(session, [_alarm(store_id, 3, True, t0 + timedelta(minutes=2))])
    again = client.get(f"/api/v1/alarms?store_id={store_id}", headers=op).json()["items"][0]
    assert again["active"] is True and again["acknowledged_by"] is None and again["acknowledged_at"] is None
    missing = client.post("/api/v1/alarms/acknowledge", json=key | {"alarm": "held_open"}, headers=op)
    assert missing.status_code == 404
    audit = client.get(f"/api/v1/audit?store_id={store_id}", headers=op).json()["items"]
    assert [a["action"] for a in audit] == ["alarm.acknowledge"]


def test_the_alarm_history_lists_every_raise_and_clear_from_the_events(
    client: TestClient, op: dict[str, str], engine: Engine
) -> None:
    store_id = f"ops-{uuid.uuid4().hex[:6]}"
    _store(client, op, store_id)
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    events = [_alarm(store_id, i + 1, i % 2 == 0, t0 + timedelta(seconds=i)) for i in range(3)]
    with make_session_factory(engine).begin() as session:
        record_events(session, [(e, dump(e)) for e in events], datetime.now(UTC))
    history = client.get(f"/api/v1/stores/{store_id}/alarm-history", headers=op).json()
    assert [h["state"] for h in history] == ["raised", "cleared", "raised"]
    assert history[0]["severity"] == "critical" and history[0]["detail"] == "door forced"


def test_the_cli_sends_a_command_and_prints_the_reply(
    settings: CloudSettings, engine: Engine, broker: Any, client: TestClient, op: dict[str, str]
) -> None:
    store_id = f"ops-{uuid.uuid4().hex[:6]}"
    _store(client, op, store_id)
    fake = FakeStore(broker, store_id)
    env = (
        os.environ
        | broker.cloud_env("downlink")
        | {
            "PYTHONPATH": str(REPO),
            "CLOUD_DATABASE_URL": settings.database_url,
            "CLOUD_DOWNLINK_KEY_FILE": str(settings.downlink_key_file),
        }
    )
    argv = [sys.executable, "-m", "smartstore", "cloud", "command", store_id]
    try:
        done = subprocess.run(
            [*argv, "lockdown", "--reason", "drill", "--json"], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        fake.close()
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "ok" and fake.received[0].active is True
    got = client.get(f"/api/v1/commands/{out['correlation_id']}", headers=op).json()
    assert got["status"] == "ok" and got["issued_by"].startswith("cli:")
    no_key = subprocess.run(
        [*argv, "unlock", "--reason", "x"],
        env=env | {"CLOUD_DOWNLINK_KEY_FILE": "/nonexistent/key.json"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_key.returncode == 2 and "Traceback" not in no_key.stderr and no_key.stderr.count("\n") == 1
