"""Ingest isolates anything: one poisonous message is dead-lettered, never the end of the worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from cloud_sync.ingest.batch import BatchProcessor
from cloud_sync.ingest.classify import Incoming
from contracts.messages import AccessGranted, DoorClosed, dump
from contracts.topics import Topics
from tests.cloud_sync.conftest import Publisher, count, wait_until


def _grant(seq: int = 1) -> AccessGranted:
    return AccessGranted(store_id="s1", door_id="main", member_id="m1", seq=seq)


def _raw(ev: AccessGranted, **fields: Any) -> Incoming:
    """The event as an agent would publish it, with some fields replaced verbatim."""
    body = json.loads(dump(ev)) | fields
    return Incoming(Topics(ev.store_id).event(ev.type), json.dumps(body).encode())


POISON = {
    "seq_past_int64": {"seq": 2**63},
    "ts_offset_overflows_utc": {"ts": "9999-12-31T23:59:59-23:59"},
}


def _reasons(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT reason FROM dead_letters ORDER BY id")]


def test_the_two_poison_payloads_are_dead_lettered_and_the_next_event_applied(engine: Engine) -> None:
    processor = BatchProcessor(engine)
    for i, (name, fields) in enumerate(POISON.items()):
        poison = _raw(_grant(), **fields)
        good = _grant(seq=2)
        result = processor.process([poison, Incoming(Topics("s1").event(good.type), dump(good))])
        assert result.dead_letters == 1, name
        assert count(engine, "SELECT count(*) FROM entries") == i + 1, name
    seq, ts = _reasons(engine)
    assert seq.startswith(
        "invalid event: access_granted.seq: Input should be less than or equal to 4611686018427387904"
    )
    assert ts.startswith("invalid event: access_granted.ts: Value error, UTC offset -23:59 is outside -14:00..+14:00")


def test_any_error_while_writing_one_message_dead_letters_only_that_message(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only database errors: an OverflowError (as SQLite's driver raises) in an effect, too."""
    from cloud_sync.ingest import batch

    real = batch.apply_new_events

    def effects(session: Any, events: Any, low_stock: Any) -> Any:
        if any(getattr(e, "door_id", "") == "poison" for e in events):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return real(session, events, low_stock)

    monkeypatch.setattr(batch, "apply_new_events", effects)
    processor = BatchProcessor(engine)
    poison = AccessGranted(store_id="s1", door_id="poison", seq=1)
    good = [_grant(seq=n) for n in (2, 3)]
    result = processor.process([Incoming(Topics("s1").event(e.type), dump(e)) for e in [good[0], poison, good[1]]])
    assert result.dead_letters == 1
    assert count(engine, "SELECT count(*) FROM entries") == 2
    [reason] = _reasons(engine)
    assert reason == "cannot write message: OverflowError: Python int too large to convert to SQLite INTEGER"


def test_any_error_while_classifying_one_message_dead_letters_only_that_message(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cloud_sync.ingest import classify

    real = classify.route

    def route(topic: str) -> Any:
        if topic.endswith("/door_closed"):
            raise RecursionError("maximum recursion depth exceeded")
        return real(topic)

    monkeypatch.setattr(classify, "route", route)
    poison = DoorClosed(store_id="s1", door_id="main", seq=1)
    result = BatchProcessor(engine).process(
        [Incoming(Topics("s1").event(e.type), dump(e)) for e in [poison, _grant(seq=2)]]
    )
    assert result.dead_letters == 1
    assert count(engine, "SELECT count(*) FROM entries") == 1
    assert _reasons(engine) == ["cannot classify: RecursionError: maximum recursion depth exceeded"]


def test_a_poison_payload_through_the_broker_leaves_the_worker_running(
    worker_factory: Callable[..., Any], publisher: Publisher, engine: Engine
) -> None:
    worker = worker_factory()
    for fields in POISON.values():
        poison = _raw(_grant(), **fields)
        publisher.publish(poison.topic, poison.payload)
    good = _grant(seq=3)
    publisher.publish(Topics("s1").event(good.type), dump(good))
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM entries") == 1)
    assert count(engine, "SELECT count(*) FROM dead_letters") == 2
    assert worker.error is None
    assert all(t.is_alive() for t in worker._writers)
    _ = uuid
