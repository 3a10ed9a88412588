"""store_offline alerts and webhook notifications, against a real HTTP receiver on loopback.

Time is an injected clock; the only thread waited for (two watchers on one database) is waited
for until exactly the asserted condition holds.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from cloud_sync.config import CloudSettings, SettingsError
from cloud_sync.db.base import utcnow
from cloud_sync.db.models import Alert, Notification, Store
from cloud_sync.db.session import make_session_factory
from cloud_sync.ingest.batch import BatchProcessor
from cloud_sync.ingest.classify import Incoming
from cloud_sync.main import create_app
from cloud_sync.services import notification_queue
from cloud_sync.services.notifications import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SendResult,
    after_attempt,
    backoff,
    severities_at_least,
    verify,
)
from cloud_sync.services.store_state import apply_alarms
from cloud_sync.watcher import Watcher
from cloud_sync.webhook import WebhookSender
from contracts.messages import AlarmKind, AlarmRaised
from contracts.topics import Topics
from tests.cloud_sync.conftest import wait_until

SECRET = "webhook-secret-for-tests"
T0 = datetime(2026, 12, 2, 3, 0, 0, tzinfo=UTC)


# ------------------------------------------------------------------------ receiver


@dataclass
class Received:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        """The decoded body."""
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


@dataclass
class Receiver:
    """A loopback HTTP server recording POSTs and answering scripted statuses (then 200)."""

    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    hold: threading.Event | None = None  # when set, each request waits for it (a timeout)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Record the request and answer it."""
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        with self.lock:
            self.requests.append(Received(dict(handler.headers.items()), body))
            status = self.statuses.pop(0) if self.statuses else 200
        if self.hold is not None:
            self.hold.wait(10)
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def count(self) -> int:
        """How many POSTs arrived."""
        with self.lock:
            return len(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port, served by a thread."""
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec.handle(self)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    if rec.hold is not None:
        rec.hold.set()
    server.shutdown()
    server.server_close()


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)


def notify_settings(settings: CloudSettings, receiver: Receiver, **overrides: Any) -> CloudSettings:
    """The test settings with the webhook pointed at ``receiver``."""
    values: dict[str, Any] = {
        "notify_webhook_url": receiver.url,
        "notify_webhook_secret": SECRET,
        "notify_timeout_s": 2.0,
        "public_url": "https://cloud.example.net",
    }
    return CloudSettings.model_validate(settings.model_dump() | values | overrides)


def make_watcher(settings: CloudSettings, engine: Engine, clock: Clock) -> Watcher:
    """A watcher on ``engine`` driven by ``clock``."""
    return Watcher(settings, make_session_factory(engine), clock=clock)


def raise_alarm(
    engine: Engine, store: str, severity: str, at: datetime = T0, alarm: AlarmKind = AlarmKind.DOOR_FORCED
) -> None:
    """Write a raised alarm as the ingest does."""
    event = AlarmRaised(store_id=store, alarm=alarm, source="door-1", severity=severity, detail="forced", ts=at)
    with Session(engine) as session, session.begin():
        if session.get(Store, store) is None:
            session.add(Store(id=store))
            session.flush()
        apply_alarms(session, [event])


def notifications(engine: Engine) -> list[Notification]:
    """Every notification row, oldest first."""
    with Session(engine) as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def alerts(engine: Engine, kind: str = "store_offline") -> list[Alert]:
    """The alerts of ``kind``, oldest first."""
    with Session(engine) as session:
        return list(session.scalars(select(Alert).where(Alert.kind == kind).order_by(Alert.id)))


# ------------------------------------------------------------------------ pure parts


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n, 5, 60).total_seconds() for n in range(1, 6)] == [5, 10, 20, 40, 60]


def test_after_attempt_retries_then_fails_and_does_not_retry_a_refusal() -> None:
    err = SendResult(False, "HTTP 500", retryable=True)
    pending = after_attempt(err, 1, T0, max_attempts=3, base_s=5, cap_s=60)
    assert (pending.status, pending.next_attempt_at, pending.last_error) == (
        "pending",
        T0 + timedelta(seconds=5),
        "HTTP 500",
    )
    assert after_attempt(err, 3, T0, max_attempts=3, base_s=5, cap_s=60).status == "failed"
    refused = SendResult(False, "HTTP 404", retryable=False)
    assert after_attempt(refused, 1, T0, max_attempts=3, base_s=5, cap_s=60).status == "failed"
    done = after_attempt(SendResult(True), 2, T0, max_attempts=3, base_s=5, cap_s=60)
    assert (done.status, done.delivered_at) == ("delivered", T0)


def test_severity_order() -> None:
    assert severities_at_least("info") == ["info", "warning", "critical"]
    assert severities_at_least("warning") == ["warning", "critical"]
    assert severities_at_least("critical") == ["critical"]


def test_settings_read_from_the_environment() -> None:
    s = CloudSettings.from_env(
        {"CLOUD_STORE_OFFLINE_AFTER_S": "60", "CLOUD_NOTIFY_MIN_SEVERITY": "critical", "CLOUD_NOTIFY_ENABLED": "false"}
    )
    assert (s.store_offline_after_s, s.notify_min_severity, s.notify_enabled) == (60.0, "critical", False)
    with pytest.raises(SettingsError, match="CLOUD_NOTIFY_MIN_SEVERITY"):
        CloudSettings.from_env({"CLOUD_NOTIFY_MIN_SEVERITY": "loud"})
    with pytest.raises(SettingsError, match="CLOUD_NOTIFY_WEBHOOK_URL"):
        CloudSettings.from_env({"CLOUD_NOTIFY_WEBHOOK_URL": "file:///etc/passwd"})


# ------------------------------------------------------------------------ delivery


def test_a_raised_critical_alarm_is_posted_once_with_the_signature(
    settings: CloudSettings, engine: Engine, receiver: Receiver
) -> None:
    raise_alarm(engine, "s1", "critical")
    watcher = make_watcher(notify_settings(settings, receiver), engine, Clock(T0 + timedelta(seconds=1)))

    first = watcher.run_once()
    watcher.run_once()

    assert (first.queued, first.delivered) == (1, 1)
    assert receiver.count() == 1
    got = receiver.requests[0]
    ts = int(got.headers[TIMESTAMP_HEADER])
    assert verify(SECRET.encode(), ts, got.body, got.headers[SIGNATURE_HEADER])
    assert not verify(b"another secret", ts, got.body, got.headers[SIGNATURE_HEADER])
    body = got.json
    assert body["type"] == "alarm" and body["kind"] == "door_forced"
    assert (body["store_id"], body["severity"], body["detail"]) == ("s1", "critical", "forced")
    assert body["raised_at"] == T0.isoformat()
    assert body["link"] == "https://cloud.example.net/stores/s1"
    assert got.headers[DELIVERY_HEADER] == body["id"]
    [row] = notifications(engine)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)
    assert row.delivered_at is not None


def test_a_new_raise_of_the_same_alarm_is_a_new_notification(
    settings: CloudSettings, engine: Engine, receiver: Receiver
) -> None:
    raise_alarm(engine, "s1", "critical")
    clock = Clock(T0 + timedelta(seconds=1))
    watcher = make_watcher(notify_settings(settings, receiver), engine, clock)
    watcher.run_once()
    raise_alarm(engine, "s1", "critical", at=T0 + timedelta(seconds=30))
    clock.advance(60)
    watcher.run_once()
    assert [r.json["raised_at"] for r in receiver.requests] == [
        T0.isoformat(),
        (T0 + timedelta(seconds=30)).isoformat(),
    ]


def test_a_500_then_200_is_retried_with_backoff_and_recorded(
    settings: CloudSettings, engine: Engine, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    raise_alarm(engine, "s1", "critical")
    clock = Clock(T0 + timedelta(seconds=1))
    watcher = make_watcher(notify_settings(settings, receiver, notify_backoff_s=5), engine, clock)

    assert watcher.run_once().retried == 1
    [row] = notifications(engine)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, clock.now + timedelta(seconds=5))
    assert row.last_error is not None and "500" in row.last_error

    clock.advance(4)
    watcher.run_once()
    assert receiver.count() == 1  # not due yet

    clock.advance(1)
    assert watcher.run_once().delivered == 1
    assert receiver.count() == 2
    assert receiver.requests[0].json["id"] == receiver.requests[1].json["id"]
    [row] = notifications(engine)
    assert (row.status, row.attempts) == ("delivered", 2)
    assert row.delivered_at == clock.now


def test_bounded_attempts_then_failed_and_logged_once(
    settings: CloudSettings, engine: Engine, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [503, 503, 503, 503]
    raise_alarm(engine, "s1", "critical")
    clock = Clock(T0 + timedelta(seconds=1))
    watcher = make_watcher(
        notify_settings(settings, receiver, notify_max_attempts=3, notify_backoff_s=1), engine, clock
    )
    with caplog.at_level(logging.INFO, logger="cloud_sync.watcher"):
        for _ in range(6):
            watcher.run_once()
            clock.advance(10)
    assert receiver.count() == 3
    [row] = notifications(engine)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error is not None and "503" in row.last_error
    assert sum("failed after 3 attempt" in r.getMessage() for r in caplog.records) == 1


def test_a_timeout_is_retried(settings: CloudSettings, engine: Engine, receiver: Receiver) -> None:
    receiver.hold = threading.Event()
    raise_alarm(engine, "s1", "critical")
    clock = Clock(T0 + timedelta(seconds=1))
    watcher = make_watcher(notify_settings(settings, receiver, notify_timeout_s=0.3), engine, clock)
    assert watcher.run_once().retried == 1
    [row] = notifications(engine)
    assert row.status == "pending" and row.last_error is not None and "timed out" in row.last_error
    receiver.hold.set()
    receiver.hold = None
    clock.advance(60)
    assert watcher.run_once().delivered == 1


def test_a_refusal_is_not_retried(settings: CloudSettings, engine: Engine, receiver: Receiver) -> None:
    receiver.statuses = [404]
    raise_alarm(engine, "s1", "critical")
    clock = Clock(T0 + timedelta(seconds=1))
    watcher = make_watcher(notify_settings(settings, receiver), engine, clock)
    assert watcher.run_once().failed == 1
    clock.advance(3600)
    watcher.run_once()
    assert receiver.count() == 1
    assert notifications(engine)[0].status == "failed"


def test_an_alarm_below_the_threshold_is_not_sent(settings: CloudSettings, engine: Engine, receiver: Receiver) -> None:
    raise_alarm(engine, "s1", "warning", alarm=AlarmKind.DOOR_HELD_OPEN)
    raise_alarm(engine, "s2", "info", alarm=AlarmKind.CLOCK_SKEW)
    raise_alarm(engine, "s3", "critical", alarm=AlarmKind.DOOR_FORCED)
    watcher = make_watcher(
        notify_settings(settings, receiver, notify_min_severity="critical"), engine, Clock(T0 + timedelta(seconds=1))
    )
    watcher.run_once()
    assert [r.json["store_id"] for r in receiver.requests] == ["s3"]
    assert [n.store_id for n in notifications(engine)] == ["s3"]


def test_the_default_threshold_is_warning(settings: CloudSettings, engine: Engine, receiver: Receiver) -> None:
    raise_alarm(engine, "s1", "warning", alarm=AlarmKind.DOOR_HELD_OPEN)
    raise_alarm(engine, "s2", "info", alarm=AlarmKind.CLOCK_SKEW)
    make_watcher(notify_settings(settings, receiver), engine, Clock(T0 + timedelta(seconds=1))).run_once()
    assert [r.json["store_id"] for r in receiver.requests] == ["s1"]


def test_without_a_webhook_nothing_is_queued(settings: CloudSettings, engine: Engine) -> None:
    raise_alarm(engine, "s1", "critical")
    assert make_watcher(settings, engine, Clock(T0 + timedelta(seconds=1))).run_once().queued == 0
    assert notifications(engine) == []


def test_a_claimed_notification_is_not_claimed_again_while_leased(engine: Engine) -> None:
    raise_alarm(engine, "s1", "critical")
    factory = make_session_factory(engine)
    now = T0 + timedelta(seconds=1)
    with factory() as session, session.begin():
        found = notification_queue.candidates(
            session, now, min_severity="warning", lookback=timedelta(hours=1), public_url=None
        )
        assert len(notification_queue.enqueue(session, found, now)) == 1
        assert notification_queue.enqueue(session, found, now) == []  # once per occurrence
    with factory() as session, session.begin():
        first = notification_queue.claim_due(session, now, limit=10, lease=timedelta(seconds=30))
    with factory() as session, session.begin():
        second = notification_queue.claim_due(
            session, now + timedelta(seconds=29), limit=10, lease=timedelta(seconds=30)
        )
    with factory() as session, session.begin():
        expired = notification_queue.claim_due(
            session, now + timedelta(seconds=31), limit=10, lease=timedelta(seconds=30)
        )
    assert [c.attempts for c in first] == [1]
    assert second == []
    assert [c.attempts for c in expired] == [2]  # the first holder died: the lease ran out


def test_an_outcome_after_the_lease_ran_out_is_not_recorded(engine: Engine) -> None:
    raise_alarm(engine, "s1", "critical")
    factory = make_session_factory(engine)
    now = T0 + timedelta(seconds=1)
    lease = timedelta(seconds=30)
    with factory() as session, session.begin():
        found = notification_queue.candidates(
            session, now, min_severity="warning", lookback=timedelta(hours=1), public_url=None
        )
        notification_queue.enqueue(session, found, now)
        [slow] = notification_queue.claim_due(session, now, limit=1, lease=lease)
    later = now + timedelta(seconds=31)
    with factory() as session, session.begin():
        [fast] = notification_queue.claim_due(session, later, limit=1, lease=lease)
        assert notification_queue.record_attempt(
            session, fast, after_attempt(SendResult(True), 2, later, max_attempts=3, base_s=1, cap_s=1)
        )
    with factory() as session, session.begin():
        stale = after_attempt(SendResult(False, "HTTP 500"), 1, later, max_attempts=3, base_s=1, cap_s=1)
        assert not notification_queue.record_attempt(session, slow, stale)
    [row] = notifications(engine)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, None)


def test_postgresql_skips_rows_another_claim_holds(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers (BEGIN IMMEDIATE)")
    for i in range(4):
        raise_alarm(engine, f"s{i}", "critical")
    factory = make_session_factory(engine)
    now = T0 + timedelta(seconds=1)
    with factory() as session, session.begin():
        found = notification_queue.candidates(
            session, now, min_severity="warning", lookback=timedelta(hours=1), public_url=None
        )
        notification_queue.enqueue(session, found, now)
    lease = timedelta(seconds=30)
    with factory() as a, a.begin():
        held = notification_queue.claim_due(a, now, limit=2, lease=lease)  # locked until a commits
        with factory() as b, b.begin():
            b.execute(text("SET LOCAL lock_timeout = '5s'"))  # waiting on a's rows would be the bug
            other = notification_queue.claim_due(b, now, limit=10, lease=lease)
    assert len(held) == 2 and len(other) == 2
    assert {c.id for c in held}.isdisjoint(c.id for c in other)


def test_two_watchers_on_one_database_deliver_each_once(
    settings: CloudSettings, engine: Engine, receiver: Receiver
) -> None:
    stores = [f"s{i:02d}" for i in range(12)]
    for store in stores:
        raise_alarm(engine, store, "critical", at=utcnow())  # the watchers run on the real clock
    s = notify_settings(settings, receiver, notify_interval_s=0.01)
    watchers = [Watcher(s, make_session_factory(engine)) for _ in range(2)]
    for w in watchers:
        w.start()
    try:
        assert wait_until(
            lambda: all(n.status == "delivered" for n in notifications(engine)) and len(notifications(engine)) == 12
        )
        done = [w.passes for w in watchers]
        # Two more whole passes of each watcher after the last delivery: nothing is sent again.
        assert wait_until(lambda: all(w.passes >= p + 2 for w, p in zip(watchers, done, strict=True)))
    finally:
        for w in watchers:
            w.stop()
    assert sorted(r.json["store_id"] for r in receiver.requests) == stores
    assert all(n.attempts == 1 for n in notifications(engine))


# ------------------------------------------------------------------------ store_offline


def ingest(engine: Engine, *messages: tuple[str, bytes] | Incoming) -> None:
    """Write messages through the ingest's batch processor."""
    BatchProcessor(engine).process([m if isinstance(m, Incoming) else Incoming(m[0], m[1]) for m in messages])


def online(store: str) -> tuple[str, bytes]:
    """The store's ``online`` availability."""
    return Topics(store).availability, b"online"


def offline(store: str) -> tuple[str, bytes]:
    """The broker's last will for the store."""
    return Topics(store).availability, b"offline"


def heartbeat(store: str) -> tuple[str, bytes]:
    """The agent's periodic ``state/delivery``."""
    return Topics(store).state("delivery"), json.dumps({"depth": 0, "oldest_age_s": 0.0, "resends": 0}).encode()


def last_seen(engine: Engine, store: str) -> datetime | None:
    """The store's ``last_seen_at``."""
    with Session(engine) as session:
        row = session.get(Store, store)
        assert row is not None
        return row.last_seen_at


def test_last_seen_counts_live_messages_only(engine: Engine) -> None:
    ingest(engine, online("s1"))
    seen = last_seen(engine, "s1")
    assert seen is not None
    ingest(engine, offline("s1"))
    assert last_seen(engine, "s1") == seen  # the broker's will is not the store speaking
    topic, payload = heartbeat("s1")
    ingest(engine, Incoming(topic, payload, retain=True))
    assert last_seen(engine, "s1") == seen  # a retained copy replayed on subscribe neither
    ingest(engine, heartbeat("s1"))
    later = last_seen(engine, "s1")
    assert later is not None and later > seen


def test_availability_offline_raises_store_offline_with_last_seen_until_it_reports_again(
    settings: CloudSettings, engine: Engine, receiver: Receiver
) -> None:
    ingest(engine, online("s1"), heartbeat("s1"))
    seen = last_seen(engine, "s1")
    assert seen is not None
    ingest(engine, offline("s1"))
    clock = Clock(seen + timedelta(seconds=20))
    watcher = make_watcher(notify_settings(settings, receiver), engine, clock)

    assert watcher.run_once().offline == 1
    watcher.run_once()
    [alert] = alerts(engine)
    assert (alert.store_id, alert.severity, alert.resolved_at) == ("s1", "critical", None)
    assert alert.details["last_seen"] == seen.isoformat()
    assert "s1" in alert.message and seen.strftime("%Y-%m-%d %H:%M:%S") in alert.message
    [sent] = receiver.requests
    assert (sent.json["kind"], sent.json["severity"], sent.json["last_seen"]) == (
        "store_offline",
        "critical",
        seen.isoformat(),
    )

    ingest(engine, online("s1"))
    clock.now = utcnow()
    assert watcher.run_once().back == 1
    [alert] = alerts(engine)
    assert alert.resolved_at == clock.now
    assert receiver.count() == 1


def test_a_store_silent_longer_than_the_threshold_raises_store_offline(
    settings: CloudSettings, engine: Engine, receiver: Receiver
) -> None:
    ingest(engine, online("s1"), heartbeat("s1"))
    seen = last_seen(engine, "s1")
    assert seen is not None
    clock = Clock(seen + timedelta(seconds=180))
    watcher = make_watcher(notify_settings(settings, receiver, store_offline_after_s=180), engine, clock)
    watcher.run_once()
    assert alerts(engine) == []  # exactly the threshold: not yet

    clock.advance(1)
    assert watcher.run_once().offline == 1
    [alert] = alerts(engine)
    assert alert.details["last_seen"] == seen.isoformat()
    assert "no message for more than 180 s" in alert.message
    clock.advance(600)
    watcher.run_once()
    assert len(alerts(engine)) == 1  # one per outage

    ingest(engine, heartbeat("s1"))
    seen_again = last_seen(engine, "s1")
    assert seen_again is not None
    clock.now = seen_again + timedelta(seconds=1)
    assert watcher.run_once().back == 1
    assert alerts(engine)[0].resolved_at == clock.now

    clock.now = seen_again + timedelta(seconds=200)  # a second outage is a second alert
    watcher.run_once()
    assert [a.details["last_seen"] for a in alerts(engine)] == [seen.isoformat(), seen_again.isoformat()]


def test_a_retired_store_never_raises_store_offline(settings: CloudSettings, engine: Engine) -> None:
    ingest(engine, online("s1"), online("s2"))
    ingest(engine, offline("s1"), offline("s2"))
    with Session(engine) as session, session.begin():
        store = session.get(Store, "s2")
        assert store is not None
        store.retired_at = utcnow()
    clock = Clock(utcnow() + timedelta(hours=2))
    make_watcher(settings, engine, clock).run_once()
    assert [a.store_id for a in alerts(engine)] == ["s1"]


def test_a_store_never_seen_is_not_offline(settings: CloudSettings, engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(Store(id="new"))
    make_watcher(settings, engine, Clock(utcnow() + timedelta(days=1))).run_once()
    assert alerts(engine) == []


# ------------------------------------------------------------------------ wiring


def test_a_failing_pass_is_logged_once_and_the_thread_goes_on(
    settings: CloudSettings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def clock() -> datetime:
        calls.append(1)
        if len(calls) <= 3:  # the same failure three passes running
            raise RuntimeError("clock broke")
        return utcnow()

    watcher = Watcher(
        settings.model_copy(update={"notify_interval_s": 0.01}), make_session_factory(engine), clock=clock
    )
    with caplog.at_level(logging.INFO, logger="cloud_sync.watcher"):
        watcher.start()
        try:
            assert wait_until(lambda: watcher.passes >= 4)
        finally:
            watcher.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "failed" in m] == ["watcher pass failed: RuntimeError: clock broke"]
    assert "watcher passes succeed again" in messages


def test_serve_starts_the_watcher_unless_disabled(settings: CloudSettings, engine: Engine) -> None:
    with TestClient(create_app(settings.model_copy(update={"notify_enabled": True}), engine=engine)) as c:
        assert isinstance(c.app.state.watcher, Watcher)  # type: ignore[attr-defined]
    with TestClient(create_app(settings, engine=engine)) as c:
        assert c.app.state.watcher is None  # type: ignore[attr-defined]


def test_serve_delivers_an_alarm_through_its_watcher(
    settings: CloudSettings, engine: Engine, receiver: Receiver
) -> None:
    s = notify_settings(settings, receiver, notify_enabled=True, notify_interval_s=0.05)
    with TestClient(create_app(s, engine=engine)):
        raise_alarm(engine, "s1", "critical", at=utcnow())
        assert wait_until(lambda: [n.status for n in notifications(engine)] == ["delivered"])
    assert [r.json["store_id"] for r in receiver.requests] == ["s1"]


def test_operators_list_notifications(
    client: TestClient,
    engine: Engine,
    op: dict[str, str],
    auth: Callable[..., dict[str, str]],
    settings: CloudSettings,
    receiver: Receiver,
) -> None:
    receiver.statuses = [500]
    raise_alarm(engine, "s1", "critical")
    make_watcher(notify_settings(settings, receiver), engine, Clock(T0 + timedelta(seconds=1))).run_once()
    r = client.get("/api/v1/notifications", headers=op)
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert (item["store_id"], item["status"], item["attempts"], item["kind"]) == ("s1", "pending", 1, "door_forced")
    assert "500" in item["last_error"]
    assert client.get("/api/v1/notifications?status=delivered", headers=op).json()["total"] == 0
    assert client.get("/api/v1/notifications", headers=auth("technician")).status_code == 403


def test_the_sender_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookSender("file:///etc/passwd", secret=None, timeout_s=1)


def test_an_unreachable_webhook_is_a_retryable_error() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as server:
        port = server.server_address[1]  # bound, then closed: nothing listens there
    result = WebhookSender(f"http://127.0.0.1:{port}/", secret=None, timeout_s=2).send("k", {})
    assert not result.ok and result.retryable and result.error


def test_delivery_payload_is_stable(settings: CloudSettings, engine: Engine, receiver: Receiver) -> None:
    raise_alarm(engine, "s1", "critical")
    make_watcher(notify_settings(settings, receiver), engine, Clock(T0 + timedelta(seconds=1))).run_once()
    [row] = notifications(engine)
    assert receiver.requests[0].json == row.payload


def test_a_store_whose_connection_drops_raises_store_offline_through_broker_and_ingest(
    broker: Any, worker_factory: Callable[..., Any], settings: CloudSettings, engine: Engine
) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    worker_factory()
    topics = Topics("s-e2e")
    agent = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="agent-s-e2e", protocol=mqtt.MQTTv5)
    broker.login(agent, broker.store_login("s-e2e"))
    agent.will_set(topics.availability, "offline", qos=1, retain=True)
    connected = threading.Event()
    agent.on_connect = lambda *_a: connected.set()
    agent.connect(broker.host, broker.port)
    agent.loop_start()
    try:
        assert connected.wait(10)
        agent.publish(topics.availability, "online", qos=1, retain=True).wait_for_publish(10)
        agent.publish(*heartbeat("s-e2e"), qos=1, retain=True).wait_for_publish(10)

        def store() -> Store | None:
            with Session(engine) as session:
                return session.get(Store, "s-e2e")

        assert wait_until(lambda: (s := store()) is not None and s.online and s.last_seen_at is not None)
        watcher = make_watcher(settings, engine, Clock(utcnow()))
        assert watcher.run_once().offline == 0
        agent.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
    finally:
        agent.loop_stop()
    assert wait_until(lambda: (s := store()) is not None and not s.online)
    seen = last_seen(engine, "s-e2e")
    assert seen is not None
    watcher.clock = Clock(utcnow())
    assert watcher.run_once().offline == 1
    [alert] = alerts(engine)
    assert (alert.store_id, alert.details["last_seen"]) == ("s-e2e", seen.isoformat())
