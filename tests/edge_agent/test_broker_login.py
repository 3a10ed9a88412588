"""The agent logs in to the fleet broker with its own identity over TLS, and ``agent check`` says why not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_sync.broker.admin import StoreIdentity
from cloud_sync.broker.files import TlsFiles
from cloud_sync.broker.pki import CertPair, issue, make_ca
from contracts.topics import Topics
from edge_agent.bootstrap import build_agent
from edge_agent.config import AgentSettings
from edge_agent.preflight import check_broker, run_checks
from smartstore.testing.broker import MosquittoBroker
from tests.edge_agent.conftest import Sims, agent_settings, write_toml
from tests.edge_agent.helpers import STORE, Members
from tests.mqtt_probe import Client


@pytest.fixture
def tls_fleet(tmp_path: Path) -> Iterator[tuple[MosquittoBroker, CertPair, StoreIdentity]]:
    """A TLS broker from the generated configuration with this store enrolled."""
    ca = make_ca(tmp_path / "pki")
    server = issue(ca, tmp_path / "pki", "broker", server_names=("127.0.0.1",))
    broker = MosquittoBroker(workdir=tmp_path / "broker", tls=TlsFiles(ca.cert, server.cert, server.key))
    broker.start()
    yield broker, ca, broker.store_login(STORE)
    broker.close()


def _settings(tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members, **mqtt: object) -> dict:
    settings = agent_settings(tmp_path, sims, broker, members)
    if "password_file" in mqtt:
        del settings["mqtt"]["password"]
    settings["mqtt"].update(mqtt)
    return settings


def test_the_agent_reaches_the_cloud_over_tls_with_its_own_login(
    tmp_path: Path, sims: Sims, members: Members, tls_fleet: tuple[MosquittoBroker, CertPair, StoreIdentity]
) -> None:
    broker, ca, identity = tls_fleet
    secret = tmp_path / "mqtt-password"
    secret.write_text(identity.password + "\n")
    raw = _settings(
        tmp_path, sims, broker, members, username=identity.username, password_file=str(secret), ca_file=str(ca.cert)
    )
    assert broker.files is not None
    ingest = Client(broker, broker.files.ingest, tls=(ca.cert, None))
    try:
        assert ingest.subscribe("smartstore/v1/+/agent/availability") == "Granted QoS 1"
        running = build_agent(AgentSettings.model_validate(raw), trusted=members.trusted)
        try:
            assert ingest.wait_message(Topics(STORE).availability)
            assert (Topics(STORE).availability, b"online") in ingest.messages
        finally:
            running.stop()
    finally:
        ingest.close()


def test_agent_check_names_a_wrong_ca_and_a_wrong_password(
    tmp_path: Path, sims: Sims, members: Members, tls_fleet: tuple[MosquittoBroker, CertPair, StoreIdentity]
) -> None:
    broker, ca, identity = tls_fleet
    stranger = make_ca(tmp_path / "stranger")
    good = _settings(
        tmp_path, sims, broker, members, username=identity.username, password=identity.password, ca_file=str(ca.cert)
    )
    checks = {c.name: c for c in run_checks(write_toml(good, tmp_path / "agent.toml"))}
    assert checks["broker"].ok, checks["broker"].line()

    def broker_check(**mqtt: object) -> str:
        settings = AgentSettings.model_validate({**good, "mqtt": {**good["mqtt"], **mqtt}})
        check = check_broker(settings, timeout_s=10)
        assert not check.ok
        return check.detail

    assert "TLS refused" in broker_check(ca_file=str(stranger.cert))
    assert "Not authorized" in broker_check(password="nope")
    assert "refused" in broker_check(ca_file=None)  # plain MQTT to a TLS listener


def test_a_password_given_twice_is_a_config_error(tmp_path: Path, sims: Sims, members: Members) -> None:
    raw = agent_settings(tmp_path, sims, None, members)
    raw["mqtt"] = {"password": "x", "password_file": str(tmp_path / "p")}
    with pytest.raises(ValueError, match="password or password_file"):
        AgentSettings.model_validate(raw)
