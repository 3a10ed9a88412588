"""The fleet broker enforces identity: a real Mosquitto started from the generated configuration.

Store A's login may publish only its own uplink and read only its own downlink; the cloud's roles
move only in the contract's direction; anonymous clients and retired stores are refused; the TLS
listener refuses clients without the fleet CA or a client certificate.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from cloud_sync.broker.acl import store_role
from cloud_sync.broker.admin import BrokerAdmin, StoreIdentity
from cloud_sync.broker.files import Identity, TlsFiles, write_broker_config
from cloud_sync.broker.pki import issue, make_ca
from cloud_sync.config import CloudSettings
from contracts.messages import Telemetry, dump
from contracts.topics import Topics
from smartstore.testing.broker import MosquittoBroker, find_mosquitto, free_port
from tests.cloud_sync.conftest import count, wait_until
from tests.mqtt_probe import Client

A, B = Topics("storeA"), Topics("storeB")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MosquittoBroker, StoreIdentity, StoreIdentity]]:
    """A broker from the generated configuration with stores A and B enrolled on it."""
    broker = MosquittoBroker(workdir=tmp_path_factory.mktemp("fleet-broker"))
    broker.start()
    assert broker.files is not None
    with BrokerAdmin(broker.host, broker.port, broker.files.admin.username, broker.files.admin.password) as admin:
        a, b = admin.create_store("storeA"), admin.create_store("storeB")
    yield broker, a, b
    broker.close()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    """Clients opened by a test, closed after it."""
    opened: list[Client] = []
    yield opened
    for c in opened:
        c.close()


def _event(store: str, seq: int) -> bytes:
    return dump(Telemetry(store_id=store, values={"t": 1.0}, seq=seq))


def test_anonymous_and_wrong_password_clients_are_refused(fleet: Any, clients: list[Client]) -> None:
    broker, a, _b = fleet
    anonymous = Client(broker, None)
    wrong = Client(broker, StoreIdentity("storeA", a.username, "not-the-password"))
    clients += [anonymous, wrong]
    assert str(anonymous.rc) == "Not authorized"
    assert str(wrong.rc) == "Not authorized"
    assert not anonymous.connected and not wrong.connected


def test_a_store_reads_only_its_own_downlink(fleet: Any, clients: list[Client]) -> None:
    broker, a, _b = fleet
    store_a = Client(broker, a)
    clients.append(store_a)
    assert store_a.subscribe(B.command("unlock")) == "Not authorized"
    assert store_a.subscribe("smartstore/v1/+/cmd/+") == "Not authorized"
    assert store_a.subscribe("#") == "Not authorized"
    assert store_a.subscribe(B.event("access_granted")) == "Not authorized"  # no reading other stores' uplink
    assert store_a.subscribe(A.event("access_granted")) == "Not authorized"  # nor its own uplink
    assert store_a.subscribe(A.command("unlock")) == "Granted QoS 1"
    assert store_a.subscribe(A.pay_reply) == "Granted QoS 1"


def test_a_store_cannot_publish_for_another_store_nor_send_commands(fleet: Any, clients: list[Client]) -> None:
    broker, a, b = fleet
    files = broker.files
    ingest = Client(broker, files.ingest)
    store_a, store_b = Client(broker, a), Client(broker, b)
    clients += [ingest, store_a, store_b]
    assert ingest.subscribe("smartstore/v1/+/events/#") == "Granted QoS 1"
    assert ingest.subscribe("smartstore/v1/+/pay/request") == "Granted QoS 1"
    assert store_b.subscribe(B.command("unlock")) == "Granted QoS 1"
    assert store_a.subscribe(A.command("unlock")) == "Granted QoS 1"

    store_a.publish(B.event("telemetry"), _event("storeB", 1))  # pretending to be B
    store_a.publish(B.pay_request, b'{"forged": true}')
    store_a.publish(B.command("unlock"), b"{}")
    store_a.publish(A.command("unlock"), b"{}")  # a store never sends commands, not even to itself
    store_a.publish(A.sync_snapshot("revocations"), b"{}")
    store_a.publish(A.event("telemetry"), _event("storeA", 1))  # the one publish that is allowed
    assert ingest.wait_message(A.event("telemetry"))
    # The broker delivers one client's messages in order: everything A sent before is decided.
    assert [t for t, _ in ingest.messages] == [A.event("telemetry")]
    assert store_b.messages == [] and store_a.messages == []


def test_the_cloud_roles_move_only_in_the_contracts_direction(fleet: Any, clients: list[Client]) -> None:
    broker, a, _b = fleet
    files = broker.files
    ingest, downlink, store_a = Client(broker, files.ingest), Client(broker, files.downlink), Client(broker, a)
    clients += [ingest, downlink, store_a]
    assert store_a.subscribe(A.command("unlock")) == "Granted QoS 1"
    assert store_a.subscribe(A.pay_reply) == "Granted QoS 1"
    ingest.publish(A.command("unlock"), b"from-ingest")  # the ingest may not send commands
    ingest.publish(A.pay_reply, b"from-ingest")  # but it answers payments
    assert store_a.wait_message(A.pay_reply)
    downlink.publish(A.command("unlock"), b"from-downlink")
    assert store_a.wait_message(A.command("unlock"))
    assert [p for t, p in store_a.messages if t == A.command("unlock")] == [b"from-downlink"]
    assert downlink.subscribe("smartstore/v1/+/events/#") == "Not authorized"


def test_a_retired_store_is_disconnected_and_refused(broker: MosquittoBroker, clients: list[Client]) -> None:
    with _admin(broker) as admin:
        identity = admin.create_store("storeC")
        store = Client(broker, identity)
        clients.append(store)
        assert store.connected
        admin.retire_store("storeC")
    assert wait_until(lambda: not store.connected)
    again = Client(broker, identity)
    clients.append(again)
    assert str(again.rc) == "Not authorized"


def test_identities_survive_a_broker_restart(broker: MosquittoBroker, clients: list[Client]) -> None:
    with _admin(broker) as admin:
        identity = admin.create_store("storeD")
    broker.restart()
    store = Client(broker, identity)
    clients.append(store)
    assert store.connected
    assert store.subscribe(Topics("storeD").command("unlock")) == "Granted QoS 1"
    # Regenerating the configuration keeps the enrolled stores and the cloud's logins.
    files = broker.files
    again = write_broker_config(files.directory, port=files.port)
    assert again.ingest == files.ingest


def _admin(broker: MosquittoBroker) -> BrokerAdmin:
    """The identity admin of a test broker (the cloud API's login)."""
    return BrokerAdmin(broker.host, broker.port, broker.files.admin.username, broker.files.admin.password)


def test_the_store_role_is_derived_from_the_topic_map() -> None:
    role = store_role("storeA")
    sends = {a.topic for a in role.acls if a.acltype == "publishClientSend"}
    subscribes = {a.topic for a in role.acls if a.acltype == "subscribePattern"}
    assert A.event("x").rsplit("/", 1)[0] + "/+" in sends
    assert all("/storeA/" in t or "/smartstore_storeA/" in t for t in sends | subscribes)
    assert [t for t in sends if not t.startswith("smartstore/")] == ["homeassistant/+/smartstore_storeA/+/config"]
    assert not any("/cmd/+" == t[-6:] or "/sync/" in t for t in sends)


def test_an_event_forged_for_another_store_leaves_nothing_in_the_cloud(
    fleet: Any, clients: list[Client], engine: Engine, worker_factory_on: Any
) -> None:
    broker, a, _b = fleet
    worker = worker_factory_on(broker, broker.files.ingest)
    assert worker.subscribed
    store_a = Client(broker, a)
    clients.append(store_a)
    store_a.publish(B.event("telemetry"), _event("storeB", 1))
    store_a.publish(B.pay_request, b"{}")
    store_a.publish(A.event("telemetry"), _event("storeA", 7))
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM events WHERE store_id = 'storeA'") == 1)
    assert count(engine, "SELECT count(*) FROM events WHERE store_id <> 'storeA'") == 0
    assert count(engine, "SELECT count(*) FROM dead_letters") == 0
    assert count(engine, "SELECT count(*) FROM payments") == 0


@pytest.fixture
def worker_factory_on(settings: CloudSettings, engine: Engine) -> Iterator[Any]:
    """Start an in-process ingest worker on a given broker with a given login."""
    from cloud_sync.ingest.worker import IngestWorker

    started: list[IngestWorker] = []

    def start(broker: MosquittoBroker, identity: Identity) -> IngestWorker:
        s = settings.model_copy(
            update={
                "mqtt_host": broker.host,
                "mqtt_port": broker.port,
                "mqtt_username": identity.username,
                "mqtt_password": identity.password,
                "ingest_client_id": f"w-{uuid.uuid4().hex[:8]}",
                "ingest_batch_wait_ms": 5,
                "ingest_session_expiry_s": 0,  # a stopped worker leaves no session holding a share
            }
        )
        w = IngestWorker(s, engine)
        w.start(wait_s=10)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def test_the_tls_listener_refuses_a_wrong_ca_and_a_missing_client_certificate(
    tmp_path: Path, clients: list[Client]
) -> None:
    ca = make_ca(tmp_path / "pki")
    server = issue(ca, tmp_path / "pki", "broker", server_names=("127.0.0.1", "localhost"))
    client_pair = issue(ca, tmp_path / "pki", "cloud-ingest")
    stranger = make_ca(tmp_path / "stranger")
    tls = TlsFiles(ca.cert, server.cert, server.key, require_certificate=True)
    broker = MosquittoBroker(workdir=tmp_path / "broker", tls=tls)
    broker.start()
    try:
        files = broker.files
        assert files is not None
        good = Client(broker, files.ingest, tls=(ca.cert, client_pair))
        clients.append(good)
        assert good.connected
        assert good.subscribe("smartstore/v1/+/events/#") == "Granted QoS 1"
        no_cert = Client(broker, files.ingest, tls=(ca.cert, None))
        clients.append(no_cert)
        assert not no_cert.connected
        with pytest.raises(ssl.SSLCertVerificationError):
            Client(broker, files.ingest, tls=(stranger.cert, client_pair))
    finally:
        broker.close()


def test_broker_config_writes_what_mosquitto_starts_with(tmp_path: Path, clients: list[Client]) -> None:
    port = free_port()
    out = tmp_path / "fleet"
    argv = [sys.executable, "-m", "smartstore", "cloud", "broker-config", "--out", str(out), "--port", str(port)]
    argv += ["--json", *(["--user", "root"] if os.geteuid() == 0 else [])]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    summary = json.loads(result.stdout)
    env = dict(line.split("=", 1) for line in Path(summary["env_files"]["ingest"]).read_text().splitlines())
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (out / "credentials").iterdir())
    proc = subprocess.Popen([find_mosquitto(), "-c", summary["conf"]], stderr=subprocess.PIPE)
    probe = MosquittoBroker(port=port)  # only for its host/port: the process above is the broker
    try:
        assert wait_until(lambda: _listening(port))
        ingest = Client(probe, Identity(env["CLOUD_MQTT_USERNAME"], env["CLOUD_MQTT_PASSWORD"]))
        anonymous = Client(probe, None)
        clients += [ingest, anonymous]
        assert ingest.connected and ingest.subscribe("smartstore/v1/+/events/#") == "Granted QoS 1"
        assert str(anonymous.rc) == "Not authorized"
    finally:
        proc.terminate()
        proc.wait(10)
        probe.close()


def test_broker_config_into_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = [sys.executable, "-m", "smartstore", "cloud", "broker-config", "--out", str(blocker / "x")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "cannot write" in result.stderr


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_a_home_assistant_login_reads_discovery_and_state_but_publishes_nothing(
    fleet: Any, clients: list[Client], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from smartstore.cli import main

    broker, a, _b = fleet
    monkeypatch.delenv("CLOUD_BROKER_ADMIN_USERNAME", raising=False)
    assert main(["cloud", "home-assistant-login", "ha-a", "--store", "storeA"]) == 2
    assert "CLOUD_BROKER_ADMIN_USERNAME" in capsys.readouterr().err
    monkeypatch.setenv("CLOUD_MQTT_HOST", broker.host)
    monkeypatch.setenv("CLOUD_MQTT_PORT", str(broker.port))
    monkeypatch.setenv("CLOUD_BROKER_ADMIN_USERNAME", broker.files.admin.username)
    monkeypatch.setenv("CLOUD_BROKER_ADMIN_PASSWORD", broker.files.admin.password)
    with _admin(broker) as admin:  # store A as enrolled before discovery existed
        acl = {"acltype": "publishClientSend", "topic": "homeassistant/+/smartstore_storeA/+/config"}
        admin.run([{"command": "removeRoleACL", "rolename": "store-storeA", **acl}])
    assert main(["cloud", "home-assistant-login", "ha-a", "--store", "storeA", "--json"]) == 0
    login = json.loads(capsys.readouterr().out)
    ha = Client(broker, Identity(login["username"], login["password"]))
    store_a = Client(broker, a)
    clients += [ha, store_a]
    assert ha.subscribe("homeassistant/#") == "Granted QoS 1"
    assert ha.subscribe(A.base + "/state/+") == "Granted QoS 1"
    assert ha.subscribe(B.base + "/state/+") == "Not authorized"  # another store's state
    assert ha.subscribe(A.command("unlock")) == "Not authorized"
    ha.publish(A.command("unlock"), b"{}")  # refused: the store sees nothing
    ha.publish("homeassistant/binary_sensor/smartstore_storeA/lock/config", b"{}")
    own = "homeassistant/sensor/smartstore_storeA/mode/config"
    store_a.publish("homeassistant/sensor/smartstore_storeB/mode/config", b"{}")  # not its own: refused
    store_a.publish(own, b'{"name": "Mode"}')
    assert ha.wait_message(own)
    assert [t for t, _ in ha.messages] == [own]
    assert main(["cloud", "home-assistant-login", "ha-a", "--delete"]) == 0
    refused = Client(broker, Identity(login["username"], login["password"]))
    clients.append(refused)
    assert str(refused.rc) == "Not authorized"
