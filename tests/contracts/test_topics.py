"""The topic map: every builder's topic routes back to its entry, filters and flags match docs/mqtt.md."""

from __future__ import annotations

import uuid

import pytest

from contracts import ContractError, Topics, UnknownTopic, route
from contracts.messages import AccessGranted, DeliveryAck, dump
from contracts.topics import (
    AVAILABILITY,
    COMMAND,
    COMMAND_REPLY,
    DELIVERY_ACK,
    DEVICE_STATE,
    DOOR_STATE,
    DOWNLINK_KEYS,
    EVENT,
    PAY_REPLY,
    PAY_REQUEST,
    STATE,
    SYNC_DELTA,
    SYNC_MANIFEST,
    SYNC_SNAPSHOT,
    TOPIC_MAP,
    TopicSpec,
    subscriptions,
)

T = Topics("store-1")


@pytest.mark.parametrize(
    ("topic", "spec", "params"),
    [
        (T.availability, AVAILABILITY, {}),
        (T.state("door"), DOOR_STATE, {}),
        (T.state("device-lock"), DEVICE_STATE, {"device": "lock"}),
        (T.state("outbox"), STATE, {"name": "outbox"}),
        (T.event("access_granted"), EVENT, {"type": "access_granted"}),
        (T.command("unlock"), COMMAND, {"name": "unlock"}),
        (T.reply("unlock"), COMMAND_REPLY, {"name": "unlock"}),
        (T.sync_manifest, SYNC_MANIFEST, {}),
        (T.sync_snapshot("catalog"), SYNC_SNAPSHOT, {"channel": "catalog"}),
        (T.sync_delta("coupons"), SYNC_DELTA, {"channel": "coupons"}),
        (T.pay_request, PAY_REQUEST, {}),
        (T.pay_reply, PAY_REPLY, {}),
        (T.ack, DELIVERY_ACK, {}),
        (T.downlink_keys, DOWNLINK_KEYS, {}),
    ],
)
def test_every_built_topic_routes_to_its_entry(topic: str, spec: TopicSpec[object], params: dict[str, str]) -> None:
    r = route(topic)
    assert r.spec is spec
    assert r.store_id == "store-1"
    assert dict(r.params) == params
    assert spec.topic("store-1", **params) == topic


def test_flags_and_filters_are_those_of_the_contract() -> None:
    retained = {name for name, spec in TOPIC_MAP.items() if spec.retain}
    assert retained == {
        "availability",
        "state.door",
        "state.device",
        "state",
        "sync.manifest",
        "sync.snapshot",
        "sync.downlink_keys",
    }
    assert {spec.qos for spec in TOPIC_MAP.values()} == {1}
    assert not any(spec.shared and spec.retain for spec in TOPIC_MAP.values())
    assert EVENT.filter() == "smartstore/v1/+/events/#"
    assert STATE.filter() == DOOR_STATE.filter() == "smartstore/v1/+/state/+"
    base = "smartstore/v1/store-1"
    assert subscriptions("agent", "store-1") == [
        (f"{base}/cmd/+", 1),
        (f"{base}/sync/#", 1),
        (f"{base}/delivery/ack", 1),
    ]
    assert {spec.direction for spec in (COMMAND, SYNC_DELTA, PAY_REPLY, DELIVERY_ACK)} == {"down"}
    assert {spec.direction for spec in (EVENT, PAY_REQUEST, COMMAND_REPLY)} == {"up"}


def test_unknown_topics_say_whether_the_store_was_valid() -> None:
    with pytest.raises(UnknownTopic) as bad_prefix:
        route("other/v1/s/events/x")
    assert bad_prefix.value.store_id is None
    with pytest.raises(UnknownTopic) as no_entry:
        route("smartstore/v1/s1/sync/a/b/c")
    assert (no_entry.value.store_id, no_entry.value.kind) == ("s1", "sync")
    assert str(no_entry.value) == "unknown topic sync/a/b/c"


def test_parse_checks_what_the_topic_says() -> None:
    event = AccessGranted(store_id="s1", door_id="main")
    r = route(Topics("s1").event("access_granted"))
    assert EVENT.parse(r, dump(event)) == event
    with pytest.raises(ContractError, match="topic is events/door_closed"):
        EVENT.parse(route(Topics("s1").event("door_closed")), dump(event))
    with pytest.raises(ContractError, match="payload store_id"):
        EVENT.parse(route(Topics("s2").event("access_granted")), dump(event))
    assert AVAILABILITY.parse(route(T.availability), b" online\n") == "online"
    assert DOOR_STATE.parse(route(T.state("door")), b"") is None


def test_a_delivery_ack_names_its_store() -> None:
    ack = DeliveryAck(store_id="store-1", event_ids=[uuid.uuid4()], committed_through=7)
    found = route(Topics("store-1").ack)
    assert found.spec is DELIVERY_ACK
    assert DELIVERY_ACK.parse(found, dump(ack)) == ack
    with pytest.raises(ContractError, match="payload store_id"):
        DELIVERY_ACK.parse(route(Topics("store-2").ack), dump(ack))
    with pytest.raises(ContractError):
        DELIVERY_ACK.parse(found, b'{"store_id": "store-1", "event_ids": ["not-a-uuid"]}')
