"""The MQTT ingest worker against a real Mosquitto, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from cloud_sync.ingest.batch import BatchProcessor
from cloud_sync.ingest.classify import Incoming, classify
from contracts.messages import (
    AccessGranted,
    AlarmCleared,
    AlarmKind,
    AlarmRaised,
    CheckoutAbandoned,
    DeviceStatus,
    DoorState,
    Mode,
    SaleCompleted,
    SaleLine,
    SyncApplied,
    Telemetry,
    dump,
)
from contracts.payments import PaymentRequest, parse_payment_reply, pay_reply_topic, pay_request_topic
from contracts.topics import Topics
from smartstore.testing.broker import free_port
from smartstore.testing.signing import unwrap
from tests.cloud_sync.conftest import Publisher, Recorder, count, wait_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sale(
    store: str,
    member: str,
    total: int,
    *,
    coupons: list[str] | None = None,
    mode: str = "offline",
    auth: str | None = None,
    **kw: Any,
) -> SaleCompleted:
    return SaleCompleted(
        store_id=store,
        sale_id=kw.pop("sale_id", uuid.uuid4()),
        station_id="checkout-1",
        member_id=member,
        lines=[SaleLine(product_id="p1", quantity=1, unit_price_cents=total, total_cents=total)],
        subtotal_cents=total,
        total_cents=total,
        coupon_ids=coupons or [],
        payment_mode=mode,
        authorization_id=auth,
        **kw,
    )


def _pub_event(pub: Publisher, ev: Any) -> None:
    pub.publish(Topics(ev.store_id).event(ev.type), dump(ev))


def _applied(worker: Any) -> int:
    """Return how many new events ``worker`` has written completely (both transactions committed)."""
    value = worker.metrics.registry.get_sample_value("smartstore_ingest_messages_total", {"outcome": "new"})
    return int(value or 0)


def test_duplicated_event_ids_are_stored_and_applied_once(
    worker_factory: Callable[..., Any], publisher: Publisher, engine: Engine
) -> None:
    worker_factory()
    grant = AccessGranted(store_id="s1", door_id="main", member_id="m1", seq=1)
    sale = _sale("s1", "m1", 250, seq=2)
    for _ in range(3):
        _pub_event(publisher, grant)
        _pub_event(publisher, sale)
    # Same sale re-sent with a new event id (agent retry after a crash): still one sale.
    _pub_event(publisher, sale.model_copy(update={"event_id": uuid.uuid4()}))
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM events") == 3)
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM stock_movements") == 1)
    assert count(engine, "SELECT count(*) FROM entries") == 1
    assert count(engine, "SELECT count(*) FROM sales") == 1
    assert count(engine, "SELECT count(*) FROM stores WHERE id = 's1'") == 1


def test_malformed_payloads_go_to_dead_letters_and_the_worker_keeps_going(
    worker_factory: Callable[..., Any], publisher: Publisher, engine: Engine
) -> None:
    worker = worker_factory()
    good = AccessGranted(store_id="s1", door_id="main")
    body = json.loads(dump(good))
    cases = {
        "smartstore/v1/s1/events/access_granted": b"{not json",
        "smartstore/v1/s1/events/door_opened": json.dumps(
            {"type": "door_opened", "store_id": "s1"}
        ).encode(),  # no door_id
        "smartstore/v1/s1/events/teleported": json.dumps(body | {"type": "teleported"}).encode(),
        "smartstore/v1/s1/events/door_closed": dump(good),  # topic says door_closed
        "smartstore/v1/s2/events/access_granted": dump(good),  # payload says store s1
        "smartstore/v1/s1/events/access_granted/extra": dump(good),  # unknown topic
        "smartstore/v1/-bad-/events/access_granted": dump(good),  # invalid store id
        "smartstore/v1/s1/agent/availability": b"maybe",
        "smartstore/v1/s1/state/door": b'{"door": "open"}',
        "smartstore/v1/s1/pay/request": b"{}",
    }
    for topic, payload in cases.items():
        publisher.publish(topic, payload)
    _pub_event(publisher, good)
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM dead_letters") == len(cases))
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM events") == 1)
    with engine.connect() as conn:
        reasons: dict[str, str] = dict(conn.execute(text("SELECT topic, reason FROM dead_letters")).all())
    assert "Invalid JSON" in reasons["smartstore/v1/s1/events/access_granted"]
    assert "door_id" in reasons["smartstore/v1/s1/events/door_opened"]
    assert "topic is events/door_closed" in reasons["smartstore/v1/s1/events/door_closed"]
    assert "payload store_id" in reasons["smartstore/v1/s2/events/access_granted"]
    assert "unknown topic" in reasons["smartstore/v1/s1/events/access_granted/extra"]
    assert "invalid store id" in reasons["smartstore/v1/-bad-/events/access_granted"]
    assert "availability" in reasons["smartstore/v1/s1/agent/availability"]
    assert worker.error is None


def test_classify_rejects_every_bad_shape_without_a_database() -> None:
    msgs = [Incoming("smartstore/v1/s1/events/telemetry", b"\xff\xfe"), Incoming("other/topic", b"{}")]
    out = classify(msgs)
    assert len(out.dead) == 2
    assert not out.events


def test_availability_door_state_and_devices_reach_the_api(
    worker_factory: Callable[..., Any], publisher: Publisher, client: TestClient, op: dict[str, str]
) -> None:
    worker_factory()
    t = Topics("s9")
    publisher.publish(t.availability, "online", retain=True)
    door = DoorState(
        door_id="main",
        mode=Mode.NIGHT,
        lockdown=False,
        lock="locked",
        door="open",
        occupancy=2,
        occupancy_cap=4,
        alarms=[],
    )
    publisher.publish(t.state("door"), dump(door), retain=True)
    publisher.publish(
        t.state("device-scale"),
        dump(DeviceStatus(device="scale", kind="scale", status="degraded", detail="drift")),
        retain=True,
    )

    def detail() -> dict[str, Any]:
        return dict(client.get("/api/v1/stores/s9", headers=op).json())

    assert wait_until(
        lambda: (
            detail().get("online") is True and detail().get("door") == "open" and len(detail().get("devices", [])) == 1
        )
    )
    d = detail()
    assert (d["occupancy"], d["occupancy_cap"], d["mode"], d["lock"]) == (2, 4, "night", "locked")
    assert d["devices"][0]["status"] == "degraded"
    # An older door snapshot arriving late does not overwrite the newer one.
    old = door.model_copy(update={"door": "closed", "ts": door.ts - timedelta(minutes=5)})
    publisher.publish(t.state("door"), dump(old))
    publisher.publish(t.availability, "offline", retain=True)
    assert wait_until(lambda: detail()["online"] is False)
    assert detail()["door"] == "open"


def test_alarm_state_is_right_whatever_the_arrival_order(
    worker_factory: Callable[..., Any], publisher: Publisher, engine: Engine
) -> None:
    worker_factory()
    t0 = datetime.now(UTC)
    raised = AlarmRaised(
        store_id="s1", alarm=AlarmKind.DOOR_HELD_OPEN, source="main", ts=t0, seq=10, severity="critical"
    )
    cleared = AlarmCleared(
        store_id="s1", alarm=AlarmKind.DOOR_HELD_OPEN, source="main", ts=t0 + timedelta(seconds=5), seq=11
    )
    _pub_event(publisher, cleared)  # the clear overtakes the raise
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM events") == 1)
    _pub_event(publisher, raised)
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM events") == 2)
    assert count(engine, "SELECT count(*) FROM alarms WHERE active = :t", t=True) == 0
    again = AlarmRaised(
        store_id="s1", alarm=AlarmKind.DOOR_HELD_OPEN, source="main", ts=t0 + timedelta(seconds=9), seq=12
    )
    _pub_event(publisher, again)
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM alarms WHERE active = :t", t=True) == 1)


def test_alarm_rows_are_written_in_one_key_order_and_a_clear_keeps_the_raise(engine: Engine) -> None:
    processor = BatchProcessor(engine)
    t0 = datetime.now(UTC)

    def alarm(cls: type[AlarmRaised | AlarmCleared], source: str, seconds: int, **kw: Any) -> Incoming:
        ev = cls(store_id="s1", alarm=AlarmKind.DEVICE_OFFLINE, source=source, ts=t0 + timedelta(seconds=seconds), **kw)
        return Incoming(Topics("s1").event(ev.type), dump(ev))

    processor.process([alarm(AlarmRaised, "b", 0, severity="critical", detail="scale unplugged")])
    statements: list[list[dict[str, Any]]] = []

    def record(_conn: Any, clause: Any, multiparams: Any, params: Any, _opts: Any) -> None:
        if getattr(clause, "table", None) is not None and clause.table.name == "alarms":
            statements.append(list(multiparams) or [params])

    event.listen(engine, "before_execute", record)
    try:  # a raise and a clear for other keys in the same batch
        processor.process([alarm(AlarmRaised, "c", 1, severity="warning"), alarm(AlarmCleared, "b", 2)])
    finally:
        event.remove(engine, "before_execute", record)
    # One statement with its rows in key order: two (raises, then clears) would lock "c" before
    # "b" here and "b" before "c" in another writer's batch, the deadlock two workers hit.
    assert [[row["source"] for row in rows] for rows in statements] == [["b", "c"]]
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT active, severity, detail, raised_at, cleared_at FROM alarms WHERE source = 'b'")
        ).one()
    assert row.active in (False, 0)
    assert (row.severity, row.detail) == ("critical", "scale unplugged")  # what the raise said stays
    assert row.raised_at is not None and row.cleared_at is not None


def test_sync_applied_keeps_the_highest_version(
    worker_factory: Callable[..., Any], publisher: Publisher, engine: Engine
) -> None:
    worker = worker_factory()
    for version in (4, 7, 5):
        _pub_event(publisher, SyncApplied(store_id="s1", channel="catalog", version=version))
    # Applied versions are written in a second transaction after the events row commits, and the
    # worker counts a message only once both are done: wait for all three to be fully applied.
    assert wait_until(lambda: _applied(worker) == 3)
    assert count(engine, "SELECT version FROM store_sync WHERE store_id = 's1' AND channel = 'catalog'") == 7


def test_two_workers_split_a_shared_subscription(
    worker_factory: Callable[..., Any], publisher: Publisher, engine: Engine
) -> None:
    done: dict[str, int] = {"a": 0, "b": 0}
    a = worker_factory(ingest_state=False)
    b = worker_factory(ingest_state=False)
    a.on_ack = lambda batch, _r, _t: done.__setitem__("a", done["a"] + len(batch))
    b.on_ack = lambda batch, _r, _t: done.__setitem__("b", done["b"] + len(batch))
    for i in range(200):
        _pub_event(publisher, Telemetry(store_id=f"s{i % 5}", values={"t": float(i)}, seq=i))
    assert wait_until(lambda: count(engine, "SELECT count(*) FROM events") == 200)
    assert wait_until(lambda: done["a"] + done["b"] == 200)
    assert done["a"] > 20, done
    assert done["b"] > 20, done


def _metric(port: int, name: str) -> float:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return -1.0
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


def _spawn_worker(db_url: str, broker: Any, client_id: str, metrics_port: int) -> subprocess.Popen[bytes]:
    env = os.environ | broker.cloud_env("ingest") | {"PYTHONPATH": REPO, "CLOUD_INGEST_BATCH_WAIT_MS": "5"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartstore",
            "cloud",
            "ingest",
            "--database-url",
            db_url,
            "--mqtt-port",
            str(broker.port),
            "--client-id",
            client_id,
            "--metrics-port",
            str(metrics_port),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _hold_write_lock(db_url: str) -> Callable[[], None]:
    """Block every writer of the test database until the returned release() is called."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database), timeout=30)
        conn.isolation_level = None
        conn.execute("BEGIN IMMEDIATE")

        def release_sqlite() -> None:
            conn.execute("ROLLBACK")
            conn.close()

        return release_sqlite
    options = dict(url.query).get("options", "")
    pg = psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, options=str(options)
    )
    pg.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")

    def release_pg() -> None:
        pg.rollback()
        pg.close()

    return release_pg


@pytest.mark.timeout(240)
def test_a_worker_killed_before_commit_gets_its_messages_redelivered(
    db_url: str, broker: Any, publisher: Publisher, engine: Engine
) -> None:
    client_id = f"kill-{uuid.uuid4().hex[:6]}"
    port = free_port()
    first = _spawn_worker(db_url, broker, client_id, port)
    try:
        assert wait_until(lambda: _metric(port, "smartstore_ingest_received_total") == 0.0, timeout=30), (
            "worker did not start"
        )
        release = _hold_write_lock(db_url)
        try:
            events = [Telemetry(store_id="s1", values={"i": float(i)}, seq=i) for i in range(50)]
            for ev in events:
                _pub_event(publisher, ev)
            # The worker has the messages in hand (received, not committed, not acknowledged)...
            assert wait_until(lambda: _metric(port, "smartstore_ingest_received_total") >= 1, timeout=20)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            release()
        assert count(engine, "SELECT count(*) FROM events") == 0
        # ...so the broker redelivers them to the same persistent session when it comes back.
        second = _spawn_worker(db_url, broker, client_id, free_port())
        try:
            # (a new Python process starting under load can take most of a minute)
            assert wait_until(lambda: count(engine, "SELECT count(*) FROM events") == 50, timeout=90)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(5)
    assert count(engine, "SELECT count(*) FROM events") == 50


# ----------------------------------------------------------------------- reconciliation


def _member(engine: Engine, member_id: str, balance: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO members (id, name, tier, balance_cents, created_at) VALUES (:i, :i, 'standard', :b, :t)"),
            {"i": member_id, "b": balance, "t": datetime.now(UTC)},
        )


def _coupon(engine: Engine, coupon_id: str, member_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO coupons (id, member_id, kind, value, min_total_cents, valid_from, created_at)"
                " VALUES (:c, :m, 'amount', 100, 0, :t, :t)"
            ),
            {"c": coupon_id, "m": member_id, "t": datetime.now(UTC) - timedelta(days=1)},
        )


def test_offline_overdraft_and_double_coupon_are_raised_as_alerts(
    worker_factory: Callable[..., Any], publisher: Publisher, engine: Engine, client: TestClient, op: dict[str, str]
) -> None:
    _member(engine, "alice", 500)
    _coupon(engine, "c1", "alice")
    worker_factory()
    first = _sale("s1", "alice", 400, coupons=["c1"], seq=1)
    second = _sale("s2", "alice", 300, coupons=["c1"], seq=1)  # a second store, offline, same coupon
    for ev in (first, second, first):  # the first one is redelivered too
        _pub_event(publisher, ev)
    _pub_event(publisher, _sale("s3", "ghost", 100, seq=1))
    _pub_event(publisher, _sale("s1", "alice", 100, mode="online", auth="auth_missing", seq=2))

    def kinds() -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for a in client.get("/api/v1/alerts", params={"limit": 100}, headers=op).json()["items"]:
            out.setdefault(a["kind"], []).append(a)
        return out

    assert wait_until(
        lambda: (
            {"wallet_overdraft", "coupon_double_redemption", "unknown_member_sale", "payment_mismatch"} <= set(kinds())
        )
    )
    k = kinds()
    assert len(k["wallet_overdraft"]) == 1
    assert k["wallet_overdraft"][0]["details"]["balance_cents"] == -200
    double = k["coupon_double_redemption"][0]
    assert {double["details"]["first_store_id"], double["store_id"]} == {"s1", "s2"}
    assert client.get("/api/v1/members/alice", headers=op).json()["balance_cents"] == -200
    assert count(engine, "SELECT count(*) FROM wallet_entries WHERE member_id = 'alice'") == 2
    assert count(engine, "SELECT count(*) FROM sales") == 4  # nothing dropped
    assert client.get("/api/v1/transactions", params={"member_id": "alice"}, headers=op).json()["total"] == 3


def test_an_abandoned_checkout_with_goods_alerts_the_operator_once(
    worker_factory: Callable[..., Any], publisher: Publisher, client: TestClient, op: dict[str, str]
) -> None:
    worker_factory()
    gone = CheckoutAbandoned(
        store_id="s1",
        seq=5,
        sale_id=uuid.uuid4(),
        station_id="checkout-1",
        member_id="alice",
        reason="timeout",
        lines=[SaleLine(product_id="p1", name="Chips", quantity=2, unit_price_cents=150, total_cents=300)],
        value_cents=300,
        unidentified=1,
    )
    for _ in range(2):  # redelivered: still one alert
        _pub_event(publisher, gone)

    def alerts() -> list[dict[str, Any]]:
        r = client.get("/api/v1/alerts", params={"kind": "checkout_abandoned"}, headers=op)
        return list(r.json()["items"])

    assert wait_until(lambda: len(alerts()) == 1)
    [alert] = alerts()
    assert alert["store_id"] == "s1"
    assert "3.00" in alert["message"] and "1 unidentified" in alert["message"] and "alice" in alert["message"]
    assert alert["details"]["sale_id"] == str(gone.sale_id)
    events = client.get("/api/v1/events", params={"type": "checkout_abandoned"}, headers=op).json()
    assert events["total"] == 1


def test_mqtt_payment_authorisation_and_online_sale_reconciliation(
    worker_factory: Callable[..., Any],
    broker: Any,
    publisher: Publisher,
    engine: Engine,
    client: TestClient,
    op: dict[str, str],
) -> None:
    _member(engine, "bob", 1000)
    _coupon(engine, "cb", "bob")
    worker_factory()
    replies = Recorder(broker, [pay_reply_topic("s1")])
    try:
        sale_id = uuid.uuid4()
        soon = datetime.now(UTC) + timedelta(seconds=30)
        req = PaymentRequest(
            request_id=uuid.uuid4(),
            store_id="s1",
            member_id="bob",
            amount_cents=600,
            coupon_ids=["cb"],
            sale_id=sale_id,
            expires_at=soon,
        )
        publisher.publish(pay_request_topic("s1"), dump(req))
        publisher.publish(pay_request_topic("s1"), dump(req))  # retry: same answer, charged once
        too_much = req.model_copy(update={"request_id": uuid.uuid4(), "sale_id": uuid.uuid4(), "coupon_ids": []})
        publisher.publish(pay_request_topic("s1"), dump(too_much))
        late = req.model_copy(
            update={
                "request_id": uuid.uuid4(),
                "coupon_ids": [],
                "amount_cents": 1,
                "expires_at": datetime.now(UTC) - timedelta(seconds=1),
            }
        )
        publisher.publish(pay_request_topic("s1"), dump(late))
        reused = req.model_copy(update={"request_id": uuid.uuid4(), "sale_id": uuid.uuid4(), "amount_cents": 1})
        publisher.publish(pay_request_topic("s1"), dump(reused))
        assert replies.wait_for(lambda m: len(m) == 5)
        got = [parse_payment_reply(unwrap(t, p)) for t, p, _, _ in replies.messages]
        by_id: dict[uuid.UUID, list[Any]] = {}
        for r in got:
            by_id.setdefault(r.request_id, []).append(r)
        ok = by_id[req.request_id]
        assert [r.status for r in ok] == ["approved", "approved"]
        assert ok[0].authorization_id == ok[1].authorization_id
        assert ok[0].balance_cents == 400
        assert (by_id[too_much.request_id][0].status, by_id[too_much.request_id][0].reason) == (
            "declined",
            "insufficient_funds",
        )
        assert by_id[late.request_id][0].reason == "expired"
        assert by_id[reused.request_id][0].reason == "coupon_unavailable"
        auth = ok[0].authorization_id
        # The sale with that authorisation reconciles; a sale claiming a different amount does not.
        _pub_event(publisher, _sale("s1", "bob", 600, coupons=["cb"], mode="online", auth=auth, sale_id=sale_id, seq=5))
        _pub_event(publisher, _sale("s1", "bob", 999, mode="online", auth=auth, seq=6))
        assert wait_until(lambda: count(engine, "SELECT count(*) FROM sales") == 2)
        alerts = client.get("/api/v1/alerts", params={"kind": "payment_mismatch"}, headers=op).json()["items"]
        assert len(alerts) == 1
        assert "999" in alerts[0]["message"]
        assert (
            client.get("/api/v1/alerts", params={"kind": "coupon_double_redemption"}, headers=op).json()["total"] == 0
        )
        assert client.get("/api/v1/members/bob", headers=op).json()["balance_cents"] == 400
        assert client.get("/api/v1/payments", params={"member_id": "bob"}, headers=op).json()["total"] == 4
    finally:
        replies.close()
