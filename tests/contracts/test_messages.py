"""Wire contract: payloads round-trip, bad payloads are refused with a clear error."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts import ContractError, Topics
from contracts.messages import (
    AccessDenied,
    DenyReason,
    UnlockCommand,
    dump,
    parse_command,
    parse_event,
)
from contracts.topics import parse_topic


def test_event_roundtrip_keeps_every_field() -> None:
    event = AccessDenied(store_id="s1", door_id="main", reason=DenyReason.REPLAYED, member_id="m-1", seq=7)
    again = parse_event(dump(event))
    assert again == event
    assert isinstance(again.event_id, uuid.UUID)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[]",
        b'{"type": "access_denied"}',
        b'{"type": "nope", "store_id": "s1"}',
        b'{"type": "access_denied", "store_id": "s1", "door_id": "d", "reason": "because"}',
        b'{"type": "telemetry", "store_id": "s1", "values": {}, "schema_version": 2}',
        b'{"type": "telemetry", "store_id": "s1", "values": {}, "extra": 1}',
    ],
)
def test_bad_event_payloads_raise_contract_error(payload: bytes) -> None:
    with pytest.raises(ContractError):
        parse_event(payload)


def test_command_roundtrip_and_bounds() -> None:
    cmd = UnlockCommand(correlation_id="c1", expires_at=datetime.now(UTC) + timedelta(seconds=30), duration_s=3)
    assert parse_command(dump(cmd)) == cmd
    with pytest.raises(ContractError):
        parse_command(
            b'{"name": "unlock", "correlation_id": "c", "expires_at": "2030-01-01T00:00:00Z", "duration_s": 3600}'
        )
    with pytest.raises(ContractError):
        parse_command(b'{"name": "self_destruct", "correlation_id": "c", "expires_at": "2030-01-01T00:00:00Z"}')


def test_topics_and_parse() -> None:
    t = Topics("store-1")
    assert t.event("access_granted") == "smartstore/v1/store-1/events/access_granted"
    assert t.reply("unlock") == "smartstore/v1/store-1/cmd/unlock/reply"
    assert parse_topic(t.event("x")) == ("store-1", "events", "x")
    for bad in ("other/v1/s/events/x", "smartstore/v1/s", "smartstore/v1/bad store/events/x"):
        with pytest.raises(ContractError):
            parse_topic(bad)
    with pytest.raises(ContractError):
        Topics("a/b")
    with pytest.raises(ContractError):
        Topics("+")
