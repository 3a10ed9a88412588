"""Commands on the wire: publish a signed command to a store, record the replies stores publish.

``cloud serve`` uses these through its downlink publisher (one MQTT connection for everything the
cloud sends); ``cloud command`` uses them through a short-lived client of its own.
"""

from __future__ import annotations

import logging
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.client import CallbackAPIVersion
from sqlalchemy.orm import Session, sessionmaker

from cloud_sync.broker.login import configure_login
from cloud_sync.config import CloudSettings
from cloud_sync.services import commands
from contracts.errors import ContractError
from contracts.messages import Command, CommandReply, dump
from contracts.signing import DownlinkSigner
from contracts.topics import COMMAND, COMMAND_REPLY, Topics, route

log = logging.getLogger(__name__)
REPLIES = COMMAND_REPLY.filter()


def publish_command(client: mqtt.Client, signer: DownlinkSigner, store_id: str, cmd: Command) -> mqtt.MQTTMessageInfo:
    """Sign ``cmd`` for ``store_id`` and publish it (QoS 1, never retained)."""
    topic = Topics(store_id).command(cmd.name)
    return client.publish(topic, signer.sign(topic, dump(cmd)), qos=COMMAND.qos, retain=False)


def parse_reply(topic: str, payload: bytes) -> tuple[str, CommandReply] | None:
    """Return (store, reply) of a reply message, or None (logged) if it is not one."""
    try:
        found = route(topic)
        if found.spec is not COMMAND_REPLY:
            raise ContractError(f"{topic!r} is not a command reply topic")
        reply = COMMAND_REPLY.parse(found, payload)
    except ContractError as err:
        log.warning("ignored command reply on %s: %s", topic, err)
        return None
    if reply.name != found.params["name"]:
        log.warning("ignored command reply on %s: it answers a %r command", topic, reply.name)
        return None
    return found.store_id, reply


def record_reply(session_factory: sessionmaker[Session], topic: str, payload: bytes) -> CommandReply | None:
    """Record a reply on its command; return it if it matched a command the cloud sent."""
    parsed = parse_reply(topic, payload)
    if parsed is None:
        return None
    store_id, reply = parsed
    with session_factory.begin() as session:
        matched = commands.record_reply(session, store_id, reply)
    if not matched:
        log.info("reply from %s to unknown command %s", store_id, reply.correlation_id)
        return None
    log.info("store %s answered %s %s: %s", store_id, reply.name, reply.correlation_id, reply.status)
    return reply


class CommandClient:
    """A one-shot MQTT client for the CLI: send one command and wait for its reply."""

    def __init__(self, settings: CloudSettings, session_factory: sessionmaker[Session], signer: DownlinkSigner) -> None:
        """Prepare the client with the downlink login of ``settings``."""
        self.settings = settings
        self.session_factory = session_factory
        self.signer = signer
        self.ready = threading.Event()
        self.refused = ""
        self._waiting: str | None = None
        self.reply: CommandReply | None = None
        self._got = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        configure_login(self.client, settings)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self.ready.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: object, _p: object = None) -> None:
        if getattr(rc, "is_failure", False):
            self.refused = str(rc)
            self.ready.set()
            return
        client.subscribe(REPLIES, qos=COMMAND_REPLY.qos)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        reply = record_reply(self.session_factory, msg.topic, bytes(msg.payload))
        if reply is not None and reply.correlation_id == self._waiting:
            self.reply = reply
            self._got.set()

    def connect(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe to replies; raise ``ConnectionError`` with a reason if that fails."""
        s = self.settings
        try:
            self.client.connect(s.mqtt_host, s.mqtt_port, keepalive=s.mqtt_keepalive_s)
        except OSError as err:
            raise ConnectionError(f"broker {s.mqtt_host}:{s.mqtt_port} unreachable: {err}") from err
        self.client.loop_start()
        if not self.ready.wait(timeout_s):
            raise ConnectionError(f"broker {s.mqtt_host}:{s.mqtt_port} did not answer in {timeout_s:g} s")
        if self.refused:
            raise ConnectionError(f"broker refused the login: {self.refused}")

    def send(self, store_id: str, cmd: Command, wait_s: float) -> CommandReply | None:
        """Publish ``cmd`` and wait up to ``wait_s`` for its reply (None: no reply yet)."""
        self._waiting = cmd.correlation_id
        publish_command(self.client, self.signer, store_id, cmd).wait_for_publish(10)
        self._got.wait(wait_s)
        return self.reply

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
