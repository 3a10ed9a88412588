"""The MQTT topic map shared by the store agent and the cloud (see docs/mqtt.md).

Every topic either side publishes or subscribes to is declared once, in ``TOPIC_MAP`` (the idea
of Zigbee2MQTT's ``lib/types/api.ts``): its pattern under ``smartstore/v1/``, the payload model,
who publishes it and who subscribes, QoS, retain flag, the subscription filter subscribers use
and whether cloud workers share that subscription. ``route(topic)`` finds the entry a received
topic belongs to (with the values of its ``{placeholders}``); ``spec.parse(route, payload)``
validates a payload against it, including what the topic says (event type, store, command
name). ``Topics`` builds one store's topic names from the same entries.

Everything lives under ``smartstore/v1/{store_id}/``:

- ``agent/availability``: ``online`` / ``offline`` (retained; ``offline`` is the last will).
- ``state/{name}``: retained JSON snapshots (door, mode, devices, outbox).
- ``events/{type}``: QoS 1, never retained; each payload carries ``event_id``, ``ts``,
  ``schema_version`` and a per-agent ``seq``.
- ``cmd/{name}``: operator commands, never retained (an agent ignores retained ones);
  the reply goes to ``cmd/{name}/reply`` and echoes ``correlation_id``.
- ``sync/...``: cloud to store downlink (catalog, members, coupons), see ``contracts.sync``;
  ``sync/downlink-keys`` announces the downlink keys a store pins (``contracts.signing``).
- everything the cloud publishes to a store travels in a signed envelope (``contracts.signing``).
- ``pay/request``, ``pay/reply``: online wallet payments, see ``contracts.payments``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from contracts.errors import ContractError
from contracts.messages import (
    Command,
    CommandReply,
    DeliveryAck,
    DeviceStatus,
    DoorState,
    Event,
    describe_error,
    parse_command,
    parse_event,
)
from contracts.names import PREFIX as PREFIX
from contracts.names import STORE_ID_RE as STORE_ID_RE
from contracts.names import check_store_id as check_store_id
from contracts.payments import PaymentReply, PaymentRequest, parse_payment_reply, parse_payment_request
from contracts.signing import DownlinkKeys, parse_downlink_keys
from contracts.sync import Delta, Snapshot, SyncManifest, parse_delta, parse_snapshot

ONLINE = "online"
OFFLINE = "offline"
Availability = Literal["online", "offline"]
Role = Literal["agent", "checkout", "cloud"]
"""Who publishes or subscribes: the door agent, a self-checkout (both in the store) or the cloud."""

P = TypeVar("P")
M = TypeVar("M", bound=BaseModel)


def parse_topic(topic: str) -> tuple[str, str, str]:
    """Split ``smartstore/v1/{store}/{kind}/{rest}`` into (store, kind, rest).

    Raises:
        ContractError: the topic is not under the prefix or is too short.
    """
    head = PREFIX + "/"
    if not topic.startswith(head):
        raise ContractError(f"topic {topic!r} is not under {PREFIX}/")
    parts = topic[len(head) :].split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise ContractError(f"topic {topic!r} is not {PREFIX}/<store>/<kind>/<name>")
    store, kind, rest = parts
    check_store_id(store)
    return store, kind, rest


def shared(group: str, topic_filter: str) -> str:
    """Return ``topic_filter`` as an MQTT 5 shared subscription of ``group`` (``$share/...``)."""
    return f"$share/{group}/{topic_filter}"


# ------------------------------------------------------------------------ the map's types


class UnknownTopic(ContractError):
    """No entry of the topic map matches a topic.

    ``store_id`` and ``kind`` (the level after the store) are set when the topic is under the
    prefix with a valid store id but matches no pattern, else ``None``.
    """

    def __init__(self, message: str, store_id: str | None = None, kind: str | None = None) -> None:
        """Keep the message, and the store and kind the topic named if it is well formed."""
        super().__init__(message)
        self.store_id = store_id
        self.kind = kind


@dataclass(frozen=True)
class Route:
    """Where a received topic belongs: its map entry and the values the topic carries.

    ``kind`` and ``rest`` are the topic's levels after the store, as ``parse_topic`` splits them
    (``events`` and ``access_granted``); ``params`` holds the pattern's placeholders
    (``{"type": "access_granted"}``).
    """

    spec: TopicSpec[Any]
    topic: str
    store_id: str
    kind: str
    rest: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicSpec(Generic[P]):
    """One entry of the topic map.

    Attributes:
        name: the entry's key in ``TOPIC_MAP`` (``event``, ``state.door``, ``sync.delta``...).
        pattern: the topic under ``smartstore/v1/``; ``{store}`` is the first level, other
            ``{placeholders}`` fill a whole level or the end of one (``device-{device}``).
        model: the payload model (or type) the topic carries.
        publisher: who may publish it; subscriber: who subscribes to it.
        retain: the retain flag it is published with; qos: its QoS.
        filter_pattern: the subscription filter subscribers use, when wider than ``pattern``
            (``{store}/events/#`` so that malformed event topics reach the cloud's dead letters).
        shared: cloud workers share the subscription (``$share``); never for retained topics,
            which brokers do not deliver on shared subscriptions (MQTT 5, 4.8.2).
        parse: validate a payload received on a topic of this entry (raises ContractError).
    """

    name: str
    pattern: str
    model: object
    publisher: Role
    subscriber: Role
    retain: bool
    parse: Callable[[Route, bytes], P] = field(repr=False, compare=False)
    qos: int = 1
    filter_pattern: str | None = None
    shared: bool = False

    @property
    def direction(self) -> Literal["up", "down"]:
        """Return ``up`` (store to cloud) or ``down`` (cloud to store)."""
        return "down" if self.publisher == "cloud" else "up"

    def topic(self, store_id: str, **params: str) -> str:
        """Return the topic of this entry for ``store_id`` and the pattern's other placeholders.

        Raises:
            ContractError: invalid store id, or a placeholder is missing.
        """
        try:
            return f"{PREFIX}/" + self.pattern.format(store=check_store_id(store_id), **params)
        except KeyError as err:
            raise ContractError(f"topic {self.name!r} needs a value for {err.args[0]!r}") from err

    def filter(self, store_id: str = "+") -> str:
        """Return the subscription filter for one store (or every store with ``+``)."""
        store = store_id if store_id == "+" else check_store_id(store_id)
        levels = (self.filter_pattern or self.pattern).split("/")
        return "/".join([PREFIX, store, *("+" if "{" in level else level for level in levels[1:])])

    def match(self, levels: list[str]) -> dict[str, str] | None:
        """Return the placeholder values if ``levels`` (after the store) fit the pattern, else None."""
        pattern = self._levels
        if len(levels) != len(pattern):
            return None
        params: dict[str, str] = {}
        for level, (literal, param) in zip(levels, pattern, strict=True):
            if param is None:
                if level != literal:
                    return None
            elif level.startswith(literal):
                params[param] = level[len(literal) :]
            else:
                return None
        return params

    @property
    def _levels(self) -> list[tuple[str, str | None]]:
        """Return the pattern's levels after the store as (literal prefix, placeholder or None)."""
        out: list[tuple[str, str | None]] = []
        for level in self.pattern.split("/")[1:]:
            head, brace, tail = level.partition("{")
            out.append((head, tail.rstrip("}")) if brace else (level, None))
        return out


# ------------------------------------------------------------------------------ parsers


def _model(model: type[M], payload: bytes, what: str) -> M:
    try:
        return model.model_validate_json(payload)
    except ValidationError as err:
        raise ContractError(f"invalid {what}: {describe_error(err)}") from err


def _retained_model(model: type[M], payload: bytes) -> M | None:
    if not payload:
        return None  # a cleared retained message
    try:
        return model.model_validate_json(payload)
    except ValidationError as err:
        raise ContractError(str(err)) from err


def _parse_availability(_route: Route, payload: bytes) -> Availability:
    text = payload.decode("utf-8", errors="replace").strip()
    if text == ONLINE:
        return "online"
    if text == OFFLINE:
        return "offline"
    raise ContractError(f"availability must be {ONLINE!r} or {OFFLINE!r}, got {text[:40]!r}")


def _parse_door_state(_route: Route, payload: bytes) -> DoorState | None:
    return _retained_model(DoorState, payload)


def _parse_device_state(_route: Route, payload: bytes) -> DeviceStatus | None:
    return _retained_model(DeviceStatus, payload)


def _parse_other_state(route: Route, payload: bytes) -> dict[str, Any] | None:
    if not payload:
        return None  # a cleared retained message
    try:
        data = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ContractError(f"state/{route.rest} is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise ContractError(f"state/{route.rest} must be a JSON object")
    return data


def _parse_event(route: Route, payload: bytes) -> Event:
    event = parse_event(payload)
    if event.type != route.params["type"]:
        raise ContractError(f"topic is events/{route.params['type']} but payload type is {event.type!r}")
    if event.store_id != route.store_id:
        raise ContractError(f"topic store {route.store_id!r} but payload store_id {event.store_id!r}")
    return event


def _parse_command(route: Route, payload: bytes) -> Command:
    command = parse_command(payload)
    if command.name != route.params["name"]:
        raise ContractError(f"payload is a {command.name!r} command on the {route.params['name']!r} topic")
    return command


def _parse_reply(_route: Route, payload: bytes) -> CommandReply:
    return _model(CommandReply, payload, "command reply")


def _parse_manifest(_route: Route, payload: bytes) -> SyncManifest:
    return _model(SyncManifest, payload, "sync manifest")


def _parse_snapshot(route: Route, payload: bytes) -> Snapshot:
    return parse_snapshot(route.params["channel"], payload)


def _parse_delta(route: Route, payload: bytes) -> Delta:
    return parse_delta(route.params["channel"], payload)


def _parse_downlink_keys(_route: Route, payload: bytes) -> DownlinkKeys:
    return parse_downlink_keys(payload)


def _parse_pay_request(route: Route, payload: bytes) -> PaymentRequest:
    request = parse_payment_request(payload)
    if request.store_id != route.store_id:
        raise ContractError(f"topic store {route.store_id!r} but request store_id {request.store_id!r}")
    return request


def _parse_ack(route: Route, payload: bytes) -> DeliveryAck:
    ack = _model(DeliveryAck, payload, "delivery acknowledgement")
    if ack.store_id != route.store_id:
        raise ContractError(f"topic store {route.store_id!r} but payload store_id {ack.store_id!r}")
    return ack


def _parse_pay_reply(_route: Route, payload: bytes) -> PaymentReply:
    return parse_payment_reply(payload)


# ------------------------------------------------------------------------------ the map

AVAILABILITY = TopicSpec[Availability](
    name="availability",
    pattern="{store}/agent/availability",
    model=Availability,  # the last will is "offline"
    publisher="agent",
    subscriber="cloud",
    retain=True,
    parse=_parse_availability,
)
DOOR_STATE = TopicSpec[DoorState | None](
    name="state.door",
    pattern="{store}/state/door",
    model=DoorState,
    publisher="agent",
    subscriber="cloud",
    retain=True,
    parse=_parse_door_state,
    filter_pattern="{store}/state/+",
)
DEVICE_STATE = TopicSpec[DeviceStatus | None](
    name="state.device",
    pattern="{store}/state/device-{device}",
    model=DeviceStatus,
    publisher="agent",
    subscriber="cloud",
    retain=True,
    parse=_parse_device_state,
    filter_pattern="{store}/state/+",
)
STATE = TopicSpec[dict[str, Any] | None](
    name="state",
    pattern="{store}/state/{name}",
    model=dict[str, Any],  # any other retained state (mode, outbox, ...): a JSON object
    publisher="agent",
    subscriber="cloud",
    retain=True,
    parse=_parse_other_state,
)
EVENT = TopicSpec[Event](
    name="event",
    pattern="{store}/events/{type}",
    model=Event,
    publisher="agent",
    subscriber="cloud",
    retain=False,
    parse=_parse_event,
    filter_pattern="{store}/events/#",
    shared=True,
)
COMMAND = TopicSpec[Command](
    name="command",
    pattern="{store}/cmd/{name}",
    model=Command,
    publisher="cloud",
    subscriber="agent",
    retain=False,  # an agent rejects a retained command and clears it
    parse=_parse_command,
)
COMMAND_REPLY = TopicSpec[CommandReply](
    name="command.reply",
    pattern="{store}/cmd/{name}/reply",
    model=CommandReply,
    publisher="agent",
    subscriber="cloud",
    retain=False,
    parse=_parse_reply,
)
SYNC_MANIFEST = TopicSpec[SyncManifest](
    name="sync.manifest",
    pattern="{store}/sync/manifest",
    model=SyncManifest,
    publisher="cloud",
    subscriber="agent",
    retain=True,
    parse=_parse_manifest,
    filter_pattern="{store}/sync/#",
)
SYNC_SNAPSHOT = TopicSpec[Snapshot](
    name="sync.snapshot",
    pattern="{store}/sync/{channel}/snapshot",
    model=Snapshot,
    publisher="cloud",
    subscriber="agent",
    retain=True,
    parse=_parse_snapshot,
    filter_pattern="{store}/sync/#",
)
SYNC_DELTA = TopicSpec[Delta](
    name="sync.delta",
    pattern="{store}/sync/{channel}/delta",
    model=Delta,
    publisher="cloud",
    subscriber="agent",
    retain=False,
    parse=_parse_delta,
    filter_pattern="{store}/sync/#",
)
DOWNLINK_KEYS = TopicSpec[DownlinkKeys](
    name="sync.downlink_keys",
    pattern="{store}/sync/downlink-keys",
    model=DownlinkKeys,  # announced signed by a key the store already pins (rotation)
    publisher="cloud",
    subscriber="agent",
    retain=True,
    parse=_parse_downlink_keys,
    filter_pattern="{store}/sync/#",
)
PAY_REQUEST = TopicSpec[PaymentRequest](
    name="pay.request",
    pattern="{store}/pay/request",
    model=PaymentRequest,
    publisher="checkout",
    subscriber="cloud",
    retain=False,
    parse=_parse_pay_request,
    shared=True,
)
PAY_REPLY = TopicSpec[PaymentReply](
    name="pay.reply",
    pattern="{store}/pay/reply",
    model=PaymentReply,
    publisher="cloud",
    subscriber="checkout",
    retain=False,
    parse=_parse_pay_reply,
)

DELIVERY_ACK = TopicSpec[DeliveryAck](
    name="ack",
    pattern="{store}/delivery/ack",
    model=DeliveryAck,
    publisher="cloud",
    subscriber="agent",
    retain=False,
    parse=_parse_ack,
)

TOPIC_MAP: Mapping[str, TopicSpec[Any]] = {
    spec.name: spec
    for spec in (
        AVAILABILITY,
        DOOR_STATE,  # before STATE: the first matching entry wins
        DEVICE_STATE,
        STATE,
        EVENT,
        COMMAND,
        COMMAND_REPLY,
        SYNC_MANIFEST,
        SYNC_SNAPSHOT,
        SYNC_DELTA,
        DOWNLINK_KEYS,
        PAY_REQUEST,
        PAY_REPLY,
        DELIVERY_ACK,
    )
}


@lru_cache(maxsize=4096)
def route(topic: str) -> Route:
    """Return the map entry ``topic`` belongs to, with the store and placeholder values.

    Results are cached: a fleet uses a few thousand distinct topics, and the ingest routes every
    message it receives.

    Raises:
        UnknownTopic: the topic is not under the prefix, names an invalid store (``store_id``
            is ``None``) or matches no entry (``store_id`` is set).
    """
    try:
        store, kind, rest = parse_topic(topic)
    except ContractError as err:
        raise UnknownTopic(f"unknown topic: {err}") from err
    levels = [kind, *rest.split("/")]
    for spec in TOPIC_MAP.values():
        params = spec.match(levels)
        if params is not None:
            return Route(spec, topic, store, kind, rest, params)
    raise UnknownTopic(f"unknown topic {kind}/{rest}", store_id=store, kind=kind)


def subscriptions(subscriber: Role, store_id: str = "+") -> list[tuple[str, int]]:
    """Return the (filter, QoS) pairs covering every entry ``subscriber`` subscribes to, in map order."""
    out: dict[str, int] = {}
    for spec in TOPIC_MAP.values():
        if spec.subscriber == subscriber:
            out.setdefault(spec.filter(store_id), spec.qos)
    return list(out.items())


# ----------------------------------------------------------------------------- builders


@dataclass(frozen=True)
class Topics:
    """Topic builder for one store (the names come from the topic map)."""

    store_id: str

    def __post_init__(self) -> None:
        """Validate the store id once."""
        check_store_id(self.store_id)

    @property
    def base(self) -> str:
        """Return the store's topic root."""
        return f"{PREFIX}/{self.store_id}"

    @property
    def everything(self) -> str:
        """Return the subscription filter matching every topic of this store."""
        return f"{self.base}/#"

    @property
    def availability(self) -> str:
        """Return the retained availability topic (last will ``offline``)."""
        return AVAILABILITY.topic(self.store_id)

    def state(self, name: str) -> str:
        """Return the retained state topic ``state/{name}``."""
        return STATE.topic(self.store_id, name=name)

    def event(self, event_type: str) -> str:
        """Return the event topic for ``event_type``."""
        return EVENT.topic(self.store_id, type=event_type)

    def command(self, name: str) -> str:
        """Return the command topic ``cmd/{name}``."""
        return COMMAND.topic(self.store_id, name=name)

    def reply(self, name: str) -> str:
        """Return the reply topic of command ``name``."""
        return COMMAND_REPLY.topic(self.store_id, name=name)

    @property
    def commands_filter(self) -> str:
        """Return the subscription filter matching every command to this store."""
        return COMMAND.filter(self.store_id)

    def sync(self, name: str) -> str:
        """Return the downlink topic (or filter, with ``#``) ``sync/{name}``."""
        return f"{self.base}/sync/{name}"

    @property
    def sync_manifest(self) -> str:
        """Return the retained downlink manifest topic."""
        return SYNC_MANIFEST.topic(self.store_id)

    def sync_snapshot(self, channel: str) -> str:
        """Return the retained snapshot topic of a downlink channel."""
        return SYNC_SNAPSHOT.topic(self.store_id, channel=channel)

    def sync_delta(self, channel: str) -> str:
        """Return the delta topic of a downlink channel."""
        return SYNC_DELTA.topic(self.store_id, channel=channel)

    @property
    def downlink_keys(self) -> str:
        """Return the retained downlink-keys announcement topic (key rotation)."""
        return DOWNLINK_KEYS.topic(self.store_id)

    @property
    def pay_request(self) -> str:
        """Return the checkout's payment request topic."""
        return PAY_REQUEST.topic(self.store_id)

    @property
    def ack(self) -> str:
        """Return ``delivery/ack``: the cloud's delivery acknowledgements for this store."""
        return DELIVERY_ACK.topic(self.store_id)

    @property
    def pay_reply(self) -> str:
        """Return the cloud's payment reply topic."""
        return PAY_REPLY.topic(self.store_id)
