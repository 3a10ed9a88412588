"""Fixtures for agent integration tests: device simulators on ptys, a subscriber, settings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contracts.member_code import encode_public_keys
from devices.lcus.simulator import LcusSimulator
from devices.modbus.simulator import ModbusSimulator
from devices.pty import PtySimulatorHost
from devices.scanner.simulator import ScannerSimulator
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.signing import pin
from tests.edge_agent.helpers import STORE, Members


@dataclass
class Sims:
    """The door's simulated hardware."""

    lcus: LcusSimulator
    lcus_host: PtySimulatorHost
    io: ModbusSimulator
    io_host: PtySimulatorHost
    scanner: ScannerSimulator
    scanner_host: PtySimulatorHost


@contextmanager
def start_sims(tmp_path: Path) -> Iterator[Sims]:
    """Start LCUS, Modbus IO and scanner simulators on ptys with stable paths."""
    lcus, io, scanner = LcusSimulator(), ModbusSimulator(), ScannerSimulator()
    hosts = [
        PtySimulatorHost(lcus, tmp_path / "tty-lock").start(),
        PtySimulatorHost(io, tmp_path / "tty-io").start(),
        PtySimulatorHost(scanner, tmp_path / "tty-scanner").start(),
    ]
    try:
        yield Sims(lcus, hosts[0], io, hosts[1], scanner, hosts[2])
    finally:
        for h in hosts:
            h.stop()


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[Sims]:
    """The door's simulators (``start_sims``) for one test."""
    with start_sims(tmp_path) as running:
        yield running


@dataclass
class Subscriber:
    """A cloud-side MQTT subscriber with a persistent session (QoS 1)."""

    broker: MosquittoBroker
    topic: str
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-cloud", clean_session=False)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.broker.login(self.client)
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(5), "subscription not acknowledged"

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self.cond.notify_all()

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.messages), timeout)

    def payloads(self, kind: str = "/events/") -> list[dict]:
        with self.cond:
            return [json.loads(p) for t, p, _ in self.messages if kind in t]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def subscriber(broker: MosquittoBroker) -> Iterator[Subscriber]:
    """Subscribe to everything the store publishes."""
    sub = Subscriber(broker, f"smartstore/v1/{STORE}/#")
    try:
        yield sub
    finally:
        sub.close()


@pytest.fixture
def members() -> Members:
    """A fresh issuer and its members."""
    return Members()


def agent_settings(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker | None, members: Members, **door: object
) -> dict:
    """Return a settings dict (TOML-shaped) for the simulated door."""
    keys = tmp_path / "issuer-keys.json"
    keys.write_text(json.dumps(encode_public_keys(members.trusted)))
    login = broker.store_login(STORE) if broker else None
    settings: dict = {
        "store_id": STORE,
        "data_dir": str(tmp_path / "data"),
        "issuer_keys_file": str(keys),
        "downlink_keys_file": str(pin(tmp_path / "downlink-keys.json")),
        "door": {"unlock_s": 0.5, "held_open_s": 1.0, "occupancy_cap": 3, **door},
        "lock": {"type": "lcus", "url": sims.lcus_host.path},
        "inputs": {"url": sims.io_host.path},
        "scanner": {"url": sims.scanner_host.path},
        # These tests' "cloud" is a plain subscriber that sends no delivery acknowledgements.
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker.port,
            "keepalive": 5,
            "delivery": "broker",
            "username": login.username,
            "password": login.password,
        }
        if broker and login
        else None,
    }
    return settings


def write_toml(settings: dict, path: Path) -> Path:
    """Write a settings dict (one level of tables) as an agent TOML file."""
    lines: list[str] = []
    tables: dict[str, dict] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            tables[key] = value
        elif value is not None:
            lines.append(f"{key} = {json.dumps(value)}")
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items() if v is not None)
    path.write_text("\n".join(lines) + "\n")
    return path
