"""A probing MQTT client for security tests: it records its CONNACK, SUBACKs and messages."""

from __future__ import annotations

import ssl
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud_sync.broker.admin import StoreIdentity
from cloud_sync.broker.files import Identity
from cloud_sync.broker.pki import CertPair
from smartstore.testing.broker import MosquittoBroker


class Client:
    """A paho MQTT 5 client that records its connect answer, subscribe answers and messages."""

    def __init__(
        self,
        broker: MosquittoBroker,
        identity: Identity | StoreIdentity | None,
        *,
        tls: tuple[Path, CertPair | None] | None = None,
    ) -> None:
        """Connect (and wait for the CONNACK)."""
        self.connack = threading.Event()
        self.rc: Any = None
        self.granted: dict[int, list[str]] = {}
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Condition()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        if identity is not None:
            self.client.username_pw_set(identity.username, identity.password)
        if tls is not None:
            ca, pair = tls
            self.client.tls_set(
                ca_certs=str(ca),
                certfile=str(pair.cert) if pair else None,
                keyfile=str(pair.key) if pair else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.connack.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.connack.wait(10), "no CONNACK"

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self.rc = rc
        self.connack.set()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[Any], _p: Any = None) -> None:
        with self._lock:
            self.granted[mid] = [str(c) for c in codes]
            self._lock.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))
            self._lock.notify_all()

    @property
    def connected(self) -> bool:
        """Return whether the broker accepted the connection and has not closed it."""
        return bool(self.client.is_connected())

    def subscribe(self, topic_filter: str) -> str:
        """Subscribe and return the broker's answer (``Granted QoS 1`` or ``Not authorized``)."""
        _rc, mid = self.client.subscribe(topic_filter, qos=1)
        with self._lock:
            assert self._lock.wait_for(lambda: mid in self.granted, 10), "no SUBACK"
            return self.granted[mid][0]

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish QoS 1 and wait for the broker's PUBACK (sent for refused publishes too)."""
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def wait_message(self, topic: str) -> bool:
        """Wait until a message on ``topic`` has arrived."""
        with self._lock:
            return self._lock.wait_for(lambda: any(t == topic for t, _ in self.messages), 10)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
