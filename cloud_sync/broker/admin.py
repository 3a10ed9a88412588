"""Manage store identities on a running broker through Mosquitto's dynamic-security control topic.

Commands are JSON documents published on ``$CONTROL/dynamic-security/v1`` by the admin identity;
the plugin answers on ``.../response``, applies changes at once (no restart, no reload) and saves
its state file. Deleting or disabling a client also disconnects it if it is connected, which is
what decommissioning a stolen Pi needs.
"""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud_sync.broker.acl import (
    CONTROL_TOPIC,
    home_assistant_role,
    home_assistant_role_name,
    store_role,
    store_role_name,
)
from cloud_sync.broker.files import new_password
from cloud_sync.config import CloudSettings
from contracts.home_assistant import DEFAULT_PREFIX, discovery_filter
from contracts.topics import AVAILABILITY, OFFLINE, check_store_id


class BrokerAdminError(RuntimeError):
    """The broker refused or did not answer an identity command."""


@dataclass(frozen=True)
class StoreIdentity:
    """A store's broker login, created at enrolment."""

    store_id: str
    username: str
    password: str


def store_username(store_id: str) -> str:
    """Return the broker username of a store's agent."""
    return f"store-{store_id}"


class BrokerAdmin:
    """A short-lived admin connection that sends identity commands and waits for their answers."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        ca_file: str | None = None,
        timeout_s: float = 10.0,
        discovery_prefix: str = DEFAULT_PREFIX,
    ) -> None:
        """Prepare (not connect) the admin client; stores may publish discovery under ``discovery_prefix``."""
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.discovery_prefix = discovery_prefix
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cloud-admin-{uuid.uuid4().hex[:8]}")
        self._client.username_pw_set(username, password)
        if ca_file:
            self._client.tls_set(ca_certs=ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self._client.on_message = self._on_message
        self._responses: list[dict[str, Any]] = []
        self._got = threading.Condition()
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> BrokerAdmin | None:
        """Return an admin client from ``CLOUD_BROKER_ADMIN_*`` (None: the broker has no logins to manage)."""
        if not settings.broker_admin_username or settings.broker_admin_password is None:
            return None
        return cls(
            settings.mqtt_host,
            settings.mqtt_port,
            settings.broker_admin_username,
            settings.broker_admin_password.get_secret_value(),
            ca_file=settings.mqtt_ca_file,
            discovery_prefix=settings.home_assistant_prefix,
        )

    def __enter__(self) -> BrokerAdmin:
        """Connect and subscribe to the plugin's responses."""
        try:
            self._client.connect(self.host, self.port)
        except OSError as err:
            raise BrokerAdminError(f"broker {self.host}:{self.port} unreachable: {err}") from err
        self._client.loop_start()
        self._client.subscribe(f"{CONTROL_TOPIC}/response", qos=1)
        if not self._subscribed.wait(self.timeout_s):
            self.__exit__(None, None, None)
            raise BrokerAdminError("the broker did not accept the admin identity")
        return self

    def __exit__(self, *exc: object) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload).get("responses", [])
        except (ValueError, AttributeError):
            return
        with self._got:
            self._responses.extend(r for r in responses if isinstance(r, dict))
            self._got.notify_all()

    def run(self, commands: list[dict[str, Any]], *, allow: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """Send ``commands`` at once and return their responses, in order.

        Errors whose text is in ``allow`` (``"Client not found"``...) are accepted.

        Raises:
            BrokerAdminError: a command failed or no answer came within the timeout.
        """
        ids = [uuid.uuid4().hex for _ in commands]
        tagged = [{**c, "correlationData": i} for c, i in zip(commands, ids, strict=True)]
        self._client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
        with self._got:
            ok = self._got.wait_for(
                lambda: {r.get("correlationData") for r in self._responses} >= set(ids), self.timeout_s
            )
            by_id = {r.get("correlationData"): r for r in self._responses}
        if not ok:
            raise BrokerAdminError(f"no answer from the broker to {[c['command'] for c in commands]}")
        answers = [by_id[i] for i in ids]
        for answer in answers:
            error = answer.get("error")
            if error and error not in allow:
                raise BrokerAdminError(f"broker refused {answer.get('command')}: {error}")
        return answers

    # ------------------------------------------------------------------ stores

    def create_store(self, store_id: str, password: str | None = None) -> StoreIdentity:
        """Create (or replace) a store's role and login; a replaced login is disconnected."""
        role = store_role(store_id, self.discovery_prefix)
        identity = StoreIdentity(store_id, store_username(store_id), password or new_password())
        self.run(
            [
                {"command": "deleteClient", "username": identity.username},
                {"command": "deleteRole", "rolename": role.name},
            ],
            allow=frozenset({"Client not found", "Role not found"}),
        )
        self.run(
            [
                {"command": "createRole", "rolename": role.name, "acls": [a.to_json() for a in role.acls]},
                {
                    "command": "createClient",
                    "username": identity.username,
                    "password": identity.password,
                    "textName": f"agent of store {store_id}",
                    "roles": [{"rolename": role.name}],
                },
            ]
        )
        return identity

    def create_home_assistant(
        self, username: str, stores: list[str] | None = None, password: str | None = None
    ) -> StoreIdentity:
        """Create (or replace) a read-only Home Assistant login for ``stores`` (every store when empty).

        The returned identity's ``store_id`` is ``""`` for a fleet-wide login.
        """
        stores = [check_store_id(s) for s in stores or []]
        role = home_assistant_role(username, stores, self.discovery_prefix)
        identity = StoreIdentity(",".join(stores), username, password or new_password())
        self.run(
            [
                {"command": "deleteClient", "username": username},
                {"command": "deleteRole", "rolename": role.name},
            ],
            allow=frozenset({"Client not found", "Role not found"}),
        )
        self.run(
            [
                {"command": "createRole", "rolename": role.name, "acls": [a.to_json() for a in role.acls]},
                {
                    "command": "createClient",
                    "username": username,
                    "password": identity.password,
                    "textName": f"Home Assistant ({', '.join(stores) or 'every store'}), read-only",
                    "roles": [{"rolename": role.name}],
                },
            ]
        )
        return identity

    def grant_discovery(self, store_id: str) -> None:
        """Let an already enrolled store publish its own discovery configs (roles made before they existed)."""
        acl = {"acltype": "publishClientSend", "topic": discovery_filter(self.discovery_prefix, store_id)}
        self.run(
            [{"command": "addRoleACL", "rolename": store_role_name(store_id), **acl, "allow": True, "priority": 0}],
            allow=frozenset({"ACL with this topic already exists"}),
        )

    def delete_home_assistant(self, username: str) -> None:
        """Delete a Home Assistant login and its role (it is disconnected at once)."""
        self.run(
            [
                {"command": "deleteClient", "username": username},
                {"command": "deleteRole", "rolename": home_assistant_role_name(username)},
            ],
            allow=frozenset({"Client not found", "Role not found"}),
        )

    def retire_store(self, store_id: str) -> None:
        """Delete a store's login and role: it is disconnected at once and refused from now on.

        The broker sends no last will for a client it disconnects this way, so the store's
        retained availability is set to ``offline`` here.
        """
        self.run(
            [
                {"command": "deleteClient", "username": store_username(store_id)},
                {"command": "deleteRole", "rolename": store_role_name(store_id)},
            ],
            allow=frozenset({"Client not found", "Role not found"}),
        )
        topic = AVAILABILITY.topic(store_id)
        self._client.publish(topic, OFFLINE, qos=AVAILABILITY.qos, retain=True).wait_for_publish(self.timeout_s)
