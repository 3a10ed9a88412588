"""Who may publish and subscribe to what on the broker, derived from the topic map.

Pure data: each broker role is a list of ``Acl`` entries in the vocabulary of Mosquitto's
dynamic-security plugin (``publishClientSend``, ``publishClientReceive``, ``subscribePattern``),
built from ``contracts.topics.TOPIC_MAP`` so that a topic added to the contract gets its
permissions in the same change. A store's role names its own store id in every filter: store A
can neither publish on nor subscribe to anything of store B. The cloud's roles cover every store
(``+``) but only in the direction the contract gives them: the ingest reads the uplink and answers
payments and deliveries, the downlink publisher sends commands and sync and reads the replies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from contracts.home_assistant import DEFAULT_PREFIX, check_prefix, discovery_filter
from contracts.topics import (
    AVAILABILITY,
    COMMAND,
    COMMAND_REPLY,
    DELIVERY_ACK,
    DOOR_STATE,
    PAY_REPLY,
    SYNC_DELTA,
    SYNC_MANIFEST,
    SYNC_SNAPSHOT,
    TOPIC_MAP,
    TopicSpec,
    check_store_id,
)

AclType = Literal["publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern"]
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"

ADMIN_ROLE = "smartstore-admin"
INGEST_ROLE = "cloud-ingest"
DOWNLINK_ROLE = "cloud-downlink"
STORE_ROLE_PREFIX = "store-"
HOME_ASSISTANT_ROLE_PREFIX = "home-assistant-"


@dataclass(frozen=True)
class Acl:
    """One dynamic-security ACL entry (``allow`` is always true: everything else is denied)."""

    acltype: AclType
    topic: str
    priority: int = 0

    def to_json(self) -> dict[str, object]:
        """Return the entry as the plugin's JSON (config file and ``addRoleACL`` alike)."""
        return {"acltype": self.acltype, "topic": self.topic, "allow": True, "priority": self.priority}


@dataclass(frozen=True)
class Role:
    """A named set of ACLs a broker client is given."""

    name: str
    acls: tuple[Acl, ...]

    def to_json(self) -> dict[str, object]:
        """Return the role as the plugin's JSON."""
        return {"rolename": self.name, "acls": [a.to_json() for a in self.acls]}


def _publish(filters: Iterable[str]) -> list[Acl]:
    return [Acl("publishClientSend", f) for f in dict.fromkeys(filters)]


def _subscribe(filters: Iterable[str]) -> list[Acl]:
    out: list[Acl] = []
    for f in dict.fromkeys(filters):
        out += [Acl("subscribePattern", f), Acl("publishClientReceive", f), Acl("unsubscribePattern", f)]
    return out


def _store_side(spec: TopicSpec[object]) -> bool:
    return spec.publisher in ("agent", "checkout")


def store_role_name(store_id: str) -> str:
    """Return the broker role of one store."""
    return STORE_ROLE_PREFIX + check_store_id(store_id)


def store_role(store_id: str, discovery_prefix: str = DEFAULT_PREFIX) -> Role:
    """Return what one store's agent may do: its own uplink out, its own downlink in.

    Publish filters are the exact patterns (``events/+``, ``state/+``, ``cmd/+/reply``) plus the
    store's own Home Assistant discovery configs (``<prefix>/+/smartstore_<store>/+/config``); the
    store may not publish commands, sync or acknowledgements, nor touch another store's topics.
    """
    check_store_id(store_id)
    specs = list(TOPIC_MAP.values())
    publish = [s.filter(store_id) if s.filter_pattern is None else _exact(s, store_id) for s in specs if _store_side(s)]
    publish.append(discovery_filter(discovery_prefix, store_id))
    subscribe = [s.filter(store_id) for s in specs if s.subscriber in ("agent", "checkout")]
    return Role(store_role_name(store_id), tuple(_publish(publish) + _subscribe(subscribe)))


def _exact(spec: TopicSpec[object], store_id: str) -> str:
    """Return the publish filter of ``spec`` for one store from its pattern (not its wider filter)."""
    levels = spec.pattern.split("/")
    return "/".join(["smartstore/v1", store_id, *("+" if "{" in level else level for level in levels[1:])])


def ingest_role(group: str) -> Role:
    """Return the ingest worker's role: read every store's uplink, answer payments and deliveries.

    Shared subscriptions are allowed under ``$share/{group}/``: Mosquitto checks a shared
    subscription's filter as written.
    """
    uplink = [s for s in TOPIC_MAP.values() if _store_side(s)]
    filters: list[str] = []
    for spec in uplink:
        plain = spec.filter()
        filters.append(f"$share/{group}/{plain}" if spec.shared else plain)
        filters.append(plain)
    return Role(
        INGEST_ROLE,
        tuple(_subscribe(filters) + _publish([DELIVERY_ACK.filter(), PAY_REPLY.filter()])),
    )


def downlink_role() -> Role:
    """Return the downlink publisher's role: commands and sync to every store, command replies back."""
    sync = [SYNC_MANIFEST.filter(), SYNC_SNAPSHOT.filter(), SYNC_DELTA.filter(), COMMAND.filter()]
    return Role(DOWNLINK_ROLE, tuple(_publish(sync) + _subscribe([COMMAND_REPLY.filter()])))


def admin_role() -> Role:
    """Return the role that manages identities over the plugin's control topic (the cloud API).

    It may also set a store's retained availability: a retired store is disconnected without its
    last will, so the admin says ``offline`` for it.
    """
    return Role(
        ADMIN_ROLE,
        (
            Acl("publishClientSend", CONTROL_TOPIC),
            Acl("publishClientSend", AVAILABILITY.filter()),
            Acl("subscribePattern", f"{CONTROL_TOPIC}/response"),
            Acl("publishClientReceive", f"{CONTROL_TOPIC}/response"),
        ),
    )


def home_assistant_role_name(username: str) -> str:
    """Return the broker role of a Home Assistant login."""
    return HOME_ASSISTANT_ROLE_PREFIX + username


def home_assistant_role(username: str, stores: Sequence[str] = (), discovery_prefix: str = DEFAULT_PREFIX) -> Role:
    """Return a Home Assistant login's role: read discovery, door state and availability; publish nothing.

    Home Assistant subscribes to the whole prefix (``<prefix>/#``) for discovery, so that
    subscription is allowed, but only the stores' discovery configs are delivered to it: those
    of ``stores``, or every store's when none is given. Its birth and last-will messages
    (``<prefix>/status``) are refused like any other publish.
    """
    prefix = check_prefix(discovery_prefix)
    if stores:
        receive = [discovery_filter(prefix, s) for s in stores]
        subscribe = [f for s in stores for f in (DOOR_STATE.filter(s), AVAILABILITY.filter(s))]
        receive += subscribe
    else:
        receive = [f"{prefix}/+/+/+/config", DOOR_STATE.filter(), AVAILABILITY.filter()]
        subscribe = [DOOR_STATE.filter(), AVAILABILITY.filter()]
    subscribe = [f"{prefix}/#", *subscribe]
    acls = [Acl("subscribePattern", f) for f in dict.fromkeys(subscribe)]
    acls += [Acl("unsubscribePattern", f) for f in dict.fromkeys(subscribe)]
    acls += [Acl("publishClientReceive", f) for f in dict.fromkeys(receive)]
    return Role(home_assistant_role_name(username), tuple(acls))
