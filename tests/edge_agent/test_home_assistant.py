"""Home Assistant discovery from a running agent, seen by a read-only Home Assistant broker login."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud_sync.broker.admin import BrokerAdmin, StoreIdentity
from contracts.home_assistant import discovery_configs
from contracts.topics import Topics
from edge_agent.adapters.home_assistant import FILE_NAME, HomeAssistantDiscovery, load_topics
from edge_agent.bootstrap import build_agent
from edge_agent.config import AgentSettings, HomeAssistantSettings
from smartstore.testing.broker import MosquittoBroker
from tests.cloud_sync.conftest import wait_until
from tests.edge_agent.conftest import Sims, agent_settings
from tests.edge_agent.helpers import STORE, Members
from tests.mqtt_probe import Client

T = Topics(STORE)


class FakeLink:
    """Records what discovery asks the broker link to publish after each connect."""

    def __init__(self) -> None:
        self.retained: dict[str, tuple[bytes, Callable[[str], None] | None]] = {}

    def retain(self, topic: str, payload: bytes, on_delivered: Callable[[str], None] | None = None) -> None:
        self.retained[topic] = (payload, on_delivered)

    def forget_retained(self, topic: str) -> None:
        del self.retained[topic]

    def deliver_all(self) -> None:
        """Play the broker acknowledging every retained publish once."""
        for topic, (_payload, done) in list(self.retained.items()):
            if done is not None:
                done(topic)


def test_turning_discovery_off_or_moving_the_prefix_clears_what_was_published(tmp_path: Path) -> None:
    on = HomeAssistantSettings(enabled=True)
    link = FakeLink()
    HomeAssistantDiscovery(STORE, on, tmp_path).attach(link)
    first = set(discovery_configs(STORE))
    assert set(link.retained) == first and all(p for p, _ in link.retained.values())
    assert load_topics(tmp_path / FILE_NAME) == first

    link = FakeLink()
    HomeAssistantDiscovery(STORE, HomeAssistantSettings(enabled=True, discovery_prefix="ha"), tmp_path).attach(link)
    moved = set(discovery_configs(STORE, prefix="ha"))
    assert {t for t, (p, _) in link.retained.items() if p == b""} == first  # the old prefix is cleared
    assert {t for t, (p, _) in link.retained.items() if p} == moved
    assert load_topics(tmp_path / FILE_NAME) == first | moved  # until the broker has the clears
    link.deliver_all()
    assert load_topics(tmp_path / FILE_NAME) == moved
    assert set(link.retained) == moved  # a delivered clear is not sent again

    link = FakeLink()
    HomeAssistantDiscovery(STORE, HomeAssistantSettings(), tmp_path).attach(link)
    assert {t: p for t, (p, _) in link.retained.items()} == dict.fromkeys(moved, b"")
    link.deliver_all()
    assert not (tmp_path / FILE_NAME).exists() and link.retained == {}

    link = FakeLink()
    HomeAssistantDiscovery(STORE, HomeAssistantSettings(), tmp_path).attach(link)
    assert link.retained == {}  # never enabled (or fully cleared): nothing goes out


class HomeAssistant(Client):
    """A probe that also records the broker's PUBACK reason codes."""

    def __init__(self, broker: MosquittoBroker, identity: StoreIdentity) -> None:
        super().__init__(broker, identity)
        self.acks: dict[int, str] = {}
        self.client.on_publish = self._on_puback

    def _on_puback(self, _c: Any, _u: Any, mid: int, rc: Any, _p: Any = None) -> None:
        with self._lock:
            self.acks[mid] = str(rc)
            self._lock.notify_all()

    def try_publish(self, topic: str, payload: bytes) -> str:
        """Publish QoS 1 and return the broker's answer."""
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            assert self._lock.wait_for(lambda: info.mid in self.acks, 10), "no PUBACK"
            return self.acks[info.mid]

    def retained(self) -> dict[str, bytes]:
        """Return the last payload received per discovery topic."""
        with self._lock:
            return {t: p for t, p in self.messages if t.startswith("homeassistant/")}


@pytest.fixture
def home_assistant(broker: MosquittoBroker) -> Iterator[HomeAssistant]:
    """A read-only Home Assistant login for this store, connected."""
    assert broker.files is not None
    admin = broker.files.admin
    with BrokerAdmin(broker.host, broker.port, admin.username, admin.password) as a:
        identity = a.create_home_assistant("ha", [STORE])
    ha = HomeAssistant(broker, identity)
    try:
        yield ha
    finally:
        ha.close()


def _run(raw: dict[str, Any], members: Members) -> Any:
    return build_agent(AgentSettings.model_validate(raw), trusted=members.trusted)


def test_an_agent_publishes_its_discovery_configs_to_a_read_only_home_assistant(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members, home_assistant: HomeAssistant
) -> None:
    ha = home_assistant
    assert ha.subscribe("homeassistant/#") == "Granted QoS 1"
    assert ha.subscribe(T.base + "/state/+") == "Granted QoS 1"
    assert ha.subscribe(T.availability) == "Granted QoS 1"
    assert ha.subscribe("smartstore/v1/other/state/+") == "Not authorized"  # only its stores
    assert ha.subscribe(T.base + "/events/#") == "Not authorized"  # state and availability only

    raw = agent_settings(tmp_path, sims, broker, members)
    raw["home_assistant"] = {"enabled": True}
    expected = discovery_configs(STORE)
    running = _run(raw, members)
    try:
        assert ha.wait_message(T.availability)
        assert wait_until(lambda: set(ha.retained()) == set(expected))
        for topic, payload in ha.retained().items():
            config = json.loads(payload)
            assert config["unique_id"] == expected[topic]["unique_id"]
            assert config["state_topic"] == T.base + "/state/door"
        assert ha.wait_message(T.base + "/state/door")

        lock_topic = f"homeassistant/binary_sensor/smartstore_{STORE}/lock/config"
        assert ha.try_publish(lock_topic, b'{"command_topic": "x"}') == "Not authorized"
        assert ha.try_publish(T.command("unlock"), b"{}") == "Not authorized"
        assert ha.try_publish(T.base + "/state/door", b"{}") == "Not authorized"
        assert ha.try_publish("homeassistant/status", b"online") == "Not authorized"  # HA's birth message
        fresh = HomeAssistant(broker, _ha_login(broker))
        try:
            assert fresh.subscribe(lock_topic) == "Granted QoS 1"
            assert fresh.wait_message(lock_topic)
            assert json.loads(fresh.retained()[lock_topic])["device_class"] == "lock"  # the agent's, untouched
        finally:
            fresh.close()
    finally:
        running.stop()

    assert json.loads((tmp_path / "data" / FILE_NAME).read_text())["topics"] == sorted(expected)
    raw["home_assistant"] = {"enabled": False}
    running = _run(raw, members)
    try:
        assert wait_until(lambda: all(ha.retained().get(t) == b"" for t in expected))
        assert wait_until(lambda: not (tmp_path / "data" / FILE_NAME).exists())
    finally:
        running.stop()


def _ha_login(broker: MosquittoBroker) -> StoreIdentity:
    assert broker.files is not None
    admin = broker.files.admin
    with BrokerAdmin(broker.host, broker.port, admin.username, admin.password) as a:
        return a.create_home_assistant("ha-fleet")  # every store


def test_a_store_may_publish_only_its_own_discovery_topics(broker: MosquittoBroker) -> None:
    store = HomeAssistant(broker, broker.store_login(STORE))
    watcher = HomeAssistant(broker, _ha_login(broker))
    try:
        assert watcher.subscribe("homeassistant/#") == "Granted QoS 1"
        assert store.try_publish("homeassistant/sensor/smartstore_other/mode/config", b"{}") == "Not authorized"
        assert store.try_publish("homeassistant/sensor/someone_else/mode/config", b"{}") == "Not authorized"
        assert store.try_publish("homeassistant/status", b"online") == "Not authorized"
        assert (
            store.try_publish(f"homeassistant/sensor/smartstore_{STORE}/mode/extra/config", b"{}") == "Not authorized"
        )
        own = f"homeassistant/sensor/smartstore_{STORE}/mode/config"
        assert store.try_publish(own, b"{}") == "Success"
        assert watcher.wait_message(own)
        assert [t for t, _ in watcher.messages] == [own]  # one client's messages arrive in order
    finally:
        store.close()
        watcher.close()


def test_discovery_is_off_by_default_and_a_bad_prefix_is_refused_by_name() -> None:
    assert HomeAssistantSettings().enabled is False
    with pytest.raises(ValueError, match=r"discovery_prefix[\s\S]*invalid discovery prefix 'ha/#'"):
        HomeAssistantSettings(discovery_prefix="ha/#")
