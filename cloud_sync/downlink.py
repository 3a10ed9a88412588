"""Downlink publisher: pushes channel deltas and retained snapshots/manifests to every store.

It polls the ``sync_channels`` versions every ``downlink_interval_s`` and is woken at once by the
API after a commit that recorded a change, so a revocation reaches online stores in milliseconds.
For each store it remembers the version it last published per channel; when a channel moves on
it publishes the missing deltas (QoS 1, not retained), then the full snapshot (retained) and the
manifest (retained). A store that was offline gets the retained snapshot and manifest when it
reconnects; see docs/adr/0004-downlink-sync.md. Every message is signed with the downlink key
(``contracts.signing``; snapshots and deltas once per version for the whole fleet, manifests per
store), and after every connect each store's retained ``sync/downlink-keys`` announces the key
set, signed by the key stores already pin (docs/adr/0008-signed-downlink.md). The same connection
carries operator commands (``send_command``) and records the stores' replies.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud_sync.broker.login import configure_login
from cloud_sync.command_link import REPLIES, publish_command, record_reply
from cloud_sync.config import CloudSettings
from cloud_sync.db.models import Store
from cloud_sync.downlink_key import DownlinkKeyFile, load_or_create
from cloud_sync.services.commands import mark_unanswered
from cloud_sync.services.sync import build_snapshot, changes_since, current_versions
from contracts.errors import ContractError
from contracts.messages import Command, dump
from contracts.sync import CHANNELS, SyncManifest
from contracts.topics import COMMAND_REPLY, DOWNLINK_KEYS, SYNC_DELTA, SYNC_MANIFEST, SYNC_SNAPSHOT, Topics

log = logging.getLogger(__name__)


class DownlinkPublisher:
    """Publishes downlink changes to every known store."""

    def __init__(
        self,
        settings: CloudSettings,
        session_factory: sessionmaker[Session],
        *,
        registry: CollectorRegistry | None = None,
        keys: DownlinkKeyFile | None = None,
    ) -> None:
        """Prepare (not start) the publisher; ``keys`` default to ``settings.downlink_key_file``."""
        self.settings = settings
        self.session_factory = session_factory
        self.keys = keys or load_or_create(settings.downlink_key_file)
        self.signer = self.keys.active
        self._published: dict[str, dict[str, int]] = {}
        self._announced: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"cloud-downlink-{uuid.uuid4().hex[:10]}", protocol=mqtt.MQTTv5
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        configure_login(self.client, settings)
        self.client.reconnect_delay_set(1, 10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.messages = Counter(
            "smartstore_downlink_messages",
            "Downlink messages published",
            ["kind"],
            registry=registry or CollectorRegistry(),
        )

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any = None) -> None:
        if rc.is_failure:
            log.error("downlink MQTT connect refused: %s", rc)
            return
        with self._lock:
            self._published.clear()  # republish snapshots and manifests after any outage
            self._announced.clear()
        self.client.subscribe(REPLIES, qos=COMMAND_REPLY.qos)
        self.connected.set()
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode, _p: Any = None) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("downlink publisher disconnected (%s), reconnecting", rc)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            record_reply(self.session_factory, msg.topic, bytes(msg.payload))
        except Exception:  # a database hiccup must not kill the MQTT thread; the command reads "unanswered"
            log.exception("could not record the command reply on %s", msg.topic)

    def send_command(self, store_id: str, cmd: Command) -> bool:
        """Sign and publish an operator command; return False if the broker is not connected."""
        if not self.connected.is_set():
            return False
        publish_command(self.client, self.signer, store_id, cmd)
        self.messages.labels("command").inc()
        return True

    # ----------------------------------------------------------------------- work

    def wake(self) -> None:
        """Ask for a publish pass now (called after a commit that changed a channel)."""
        self._wake.set()

    def publish_once(self) -> int:
        """Publish what changed since the last pass; return the number of messages sent."""
        if not self.connected.is_set():
            return 0
        sent = 0
        with self._lock, self.session_factory() as session:
            versions = current_versions(session)
            stores = [s for s in session.scalars(select(Store.id).order_by(Store.id)) if _valid_store(s)]
            sent += self._announce(stores)
            changed_stores: set[str] = set()
            for channel in CHANNELS:
                behind = [s for s in stores if self._published.get(s, {}).get(channel, -1) < versions[channel]]
                if behind:
                    sent += self._publish_channel(session, channel, behind)
                    changed_stores.update(behind)
            for store in sorted(changed_stores):
                manifest = SyncManifest(
                    versions={ch: self._published[store].get(ch, 0) for ch in CHANNELS},
                    epoch=self.settings.downlink_epoch,
                )
                topic = Topics(store).sync_manifest
                payload = self.signer.sign(topic, manifest.model_dump_json().encode())
                self.client.publish(topic, payload, qos=SYNC_MANIFEST.qos, retain=SYNC_MANIFEST.retain)
                sent += 1
                self.messages.labels("manifest").inc()
        return sent

    def _announce(self, stores: list[str]) -> int:
        """Publish the retained downlink key set to stores not told since the last connect."""
        fresh = [s for s in stores if s not in self._announced]
        if not fresh:
            return 0
        payload = dump(self.keys.announcement())
        envelope = self.keys.announcer.sign(Topics(fresh[0]).downlink_keys, payload, fleet=True)
        for store in fresh:
            self.client.publish(
                Topics(store).downlink_keys, envelope, qos=DOWNLINK_KEYS.qos, retain=DOWNLINK_KEYS.retain
            )
            self._announced.add(store)
        self.messages.labels("keys").inc(len(fresh))
        return len(fresh)

    def _publish_channel(self, session: Session, channel: str, behind: list[str]) -> int:
        """Publish the missing deltas and the snapshot of ``channel`` to ``behind`` (signed once, fleet-wide)."""
        epoch = self.settings.downlink_epoch
        snapshot = build_snapshot(session, channel).model_copy(update={"epoch": epoch})
        snap_version = int(snapshot.version)
        snap_bytes = self.signer.sign(
            Topics(behind[0]).sync_snapshot(channel), snapshot.model_dump_json().encode(), fleet=True
        )
        delta_topic = Topics(behind[0]).sync_delta(channel)
        delta_cache: dict[int, list[bytes]] = {}
        sent = 0
        for store in behind:
            topics = Topics(store)
            prev = self._published.get(store, {}).get(channel)
            if prev is not None:
                if prev not in delta_cache:
                    delta_cache[prev] = [
                        self.signer.sign(delta_topic, _encode({**d, "epoch": epoch}), fleet=True)
                        for d in changes_since(session, channel, prev)
                        if d.get("version", 0) <= snap_version
                    ]
                for payload in delta_cache[prev]:
                    self.client.publish(
                        topics.sync_delta(channel), payload, qos=SYNC_DELTA.qos, retain=SYNC_DELTA.retain
                    )
                    sent += 1
                    self.messages.labels("delta").inc()
            self.client.publish(
                topics.sync_snapshot(channel), snap_bytes, qos=SYNC_SNAPSHOT.qos, retain=SYNC_SNAPSHOT.retain
            )
            sent += 1
            self.messages.labels("snapshot").inc()
            self._published.setdefault(store, {})[channel] = snap_version
        return sent

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.downlink_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.publish_once()
                with self.session_factory.begin() as session:
                    mark_unanswered(session)
            except Exception:
                log.exception("downlink publish pass failed")

    # ------------------------------------------------------------------- lifecycle

    def start(self, wait_s: float = 0.0) -> None:
        """Connect to the broker and start the publishing thread."""
        s = self.settings
        self.client.connect_async(s.mqtt_host, s.mqtt_port, keepalive=s.mqtt_keepalive_s, clean_start=True)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="downlink", daemon=True)
        self._thread.start()
        if wait_s:
            self.connected.wait(wait_s)

    def stop(self) -> None:
        """Stop publishing and disconnect."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _valid_store(store_id: str) -> bool:
    try:
        Topics(store_id)
    except ContractError:
        return False
    return True
