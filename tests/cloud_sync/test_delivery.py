"""End-to-end delivery, cloud side: acknowledgements after commit, per-store progress and gap alerts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from contracts.messages import AccessGranted, DeliveryAck, dump
from contracts.topics import DELIVERY_ACK, Topics
from smartstore.testing.signing import unwrap
from tests.cloud_sync.conftest import Publisher, Recorder, count, wait_until


@pytest.fixture
def acks(broker: Any) -> Iterator[Recorder]:
    rec = Recorder(broker, [DELIVERY_ACK.filter()])
    yield rec
    rec.close()


def _acked(rec: Recorder, store: str) -> tuple[set[uuid.UUID], int]:
    ids: set[uuid.UUID] = set()
    through = 0
    with rec.lock:
        messages = list(rec.messages)
    for topic, payload, _t, _r in messages:
        if topic == Topics(store).ack:
            ack = DeliveryAck.model_validate_json(unwrap(topic, payload))  # signed as stores require
            ids |= set(ack.event_ids)
            through = max(through, ack.committed_through)
    return ids, through


def _grant(store: str, seq: int) -> AccessGranted:
    return AccessGranted(store_id=store, door_id="main", member_id="m1", seq=seq)


def test_the_cloud_acknowledges_what_it_committed_duplicates_and_dead_letters_included(
    worker_factory: Callable[..., Any], publisher: Publisher, engine: Engine, acks: Recorder
) -> None:
    worker_factory()
    events = [_grant("s1", seq) for seq in (1, 2, 3)]
    for ev in [*events, events[0]]:  # the first one twice: a resend after a lost acknowledgement
        publisher.publish(Topics("s1").event(ev.type), dump(ev))
    poison = {"event_id": str(uuid.uuid4()), "type": "access_granted", "store_id": "s1"}  # no door_id
    publisher.publish(Topics("s1").event("access_granted"), json.dumps(poison).encode())
    expected = {ev.event_id for ev in events} | {uuid.UUID(poison["event_id"])}
    assert wait_until(lambda: _acked(acks, "s1")[0] == expected)
    assert count(engine, "SELECT count(*) FROM events") == 3
    assert wait_until(lambda: _acked(acks, "s1")[1] == 3)  # every event up to seq 3 is held
    assert count(engine, "SELECT count(*) FROM dead_letters") == 1


def test_a_gap_is_tracked_alerted_and_resolved_when_the_missing_event_arrives(
    worker_factory: Callable[..., Any],
    publisher: Publisher,
    engine: Engine,
    acks: Recorder,
    client: TestClient,
    op: dict[str, str],
) -> None:
    worker_factory(ingest_gap_alert_s=0.2)
    first, missing, later = _grant("s2", 1), _grant("s2", 2), _grant("s2", 3)
    for ev in (first, later):
        publisher.publish(Topics("s2").event(ev.type), dump(ev))
    assert wait_until(lambda: later.event_id in _acked(acks, "s2")[0])
    assert _acked(acks, "s2")[1] == 1
    assert count(engine, "SELECT max_seq - committed_through FROM store_delivery WHERE store_id = 's2'") == 2
    shown = client.get("/api/v1/stores/s2/delivery", headers=op).json()
    assert (shown["committed_through"], shown["max_seq"], shown["missing"]) == (1, 3, [[2, 2]])
    # Another event after the threshold: the open gap is now reported to the operators.
    time.sleep(0.3)  # let the gap age past the threshold
    another = _grant("s2", 4)
    publisher.publish(Topics("s2").event(another.type), dump(another))
    gap_alerts = "SELECT count(*) FROM alerts WHERE kind = 'delivery_gap' AND store_id = 's2' AND resolved_at IS NULL"
    assert wait_until(lambda: count(engine, gap_alerts) == 1)
    # The store resends what was never acknowledged: the gap closes and the alert is resolved.
    publisher.publish(Topics("s2").event(missing.type), dump(missing))
    assert wait_until(lambda: _acked(acks, "s2")[1] == 4)
    assert wait_until(lambda: count(engine, gap_alerts) == 0)
    assert count(engine, "SELECT count(*) FROM alerts WHERE kind = 'delivery_gap'") == 1
    shown = client.get("/api/v1/stores/s2/delivery", headers=op).json()
    assert (shown["committed_through"], shown["missing"], shown["gap_since"]) == (4, [], None)
