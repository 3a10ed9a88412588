"""``smartstore cloud top``: the pure renderer, the live loop's retrying, and ``--once`` against a real cloud."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from rich.console import Console
from sqlalchemy import Engine

from cloud_sync.config import CloudSettings
from cloud_sync.db.models import Alarm, Event, Store
from cloud_sync.db.session import make_session_factory
from cloud_sync.main import create_app
from cloud_sync.services.tokens import Role
from cloud_sync.top.live import live
from cloud_sync.top.poll import Fleet, TopError
from cloud_sync.top.view import ago, render, salient
from smartstore.cli import main
from smartstore.testing.broker import free_port
from tests.cloud_sync.conftest import make_token, wait_until

NOW = datetime(2026, 12, 2, 1, 0, 0, tzinfo=UTC)


def _event(store: str, kind: str, ts: datetime, **payload: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "store_id": store,
        "type": kind,
        "ts": ts.isoformat(),
        "seq": 1,
        "payload": json.dumps({"type": kind, **payload}),
    }


FLEET = Fleet(
    fetched_at=NOW,
    stores_total=2,
    stores=[
        {
            "id": "night-7",
            "online": True,
            "last_seen_at": (NOW - timedelta(seconds=12)).isoformat(),
            "door": "closed",
            "lock": "locked",
            "occupancy": 2,
            "occupancy_cap": 4,
            "mode": "night",
            "lockdown": True,
        },
        {"id": "day-1", "online": False, "last_seen_at": None, "mode": "day", "lockdown": False},
    ],
    alarms=[
        {
            "store_id": "night-7",
            "alarm": "door_held_open",
            "severity": "critical",
            "raised_at": (NOW - timedelta(minutes=3)).isoformat(),
            "detail": "15 s",
        }
    ],
    events=[  # newest first, as the API gives them
        _event("night-7", "alarm_raised", NOW - timedelta(seconds=5), alarm="door_held_open", severity="critical"),
        _event("night-7", "access_denied", NOW - timedelta(seconds=30), reason="occupancy_full", member_id="m2"),
        _event("day-1", "access_granted", NOW - timedelta(seconds=60), member_id="m1", via="member_code"),
    ],
)


def _text(renderable: Any, width: int = 160) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_ago_reads_like_a_person_would_say_it() -> None:
    assert ago(NOW - timedelta(seconds=12), NOW) == "12 s ago"
    assert ago(NOW - timedelta(minutes=3, seconds=59), NOW) == "3 min ago"
    assert ago(NOW - timedelta(hours=2), NOW) == "2 h ago"
    assert ago(NOW - timedelta(days=4), NOW) == "4 d ago"
    assert ago(NOW + timedelta(seconds=3), NOW) == "0 s ago"  # a clock slightly ahead
    assert ago(None, NOW) == "never"


def test_the_frame_shows_stores_alarms_and_events_newest_last() -> None:
    text = _text(render(FLEET, NOW))
    assert "1/2 stores online, 1 open alarms" in text
    night = next(line for line in text.splitlines() if "night-7" in line and "12 s ago" in line)
    for cell in ("online", "closed", "locked", "2/4", "night", "LOCKDOWN", "door_held_open"):
        assert cell in night
    day = next(line for line in text.splitlines() if "day-1" in line and "never" in line)
    assert "offline" in day
    assert "3 min ago" in text and "critical" in text
    events = text[text.index("Latest events") :]
    granted, denied, raised = (events.index(s) for s in ("member m1", "occupancy_full member m2", "door_held_open"))
    assert granted < denied < raised  # newest at the bottom


def test_an_unreachable_cloud_shows_a_retrying_line_over_the_last_data() -> None:
    text = _text(render(FLEET, NOW + timedelta(seconds=40), error="cloud unreachable at http://x: refused"))
    assert "cloud unreachable, retrying: http://x: refused; showing data from 40 s ago" in text
    assert "night-7" in text
    assert "connecting" in _text(render(None, NOW))


def test_salient_fields_survive_odd_payloads() -> None:
    assert salient({"type": "mode_changed", "payload": '{"mode": "day", "by": "operator"}'}) == "day by operator"
    assert salient({"type": "sale_completed", "payload": '{"total_cents": 1234, "payment_mode": "online"}'}) == (
        "total 12.34 (online)"
    )
    assert salient({"type": "telemetry", "payload": '{"values": "not a dict"}'}) == ""
    assert salient({"type": "door_opened", "payload": "not json"}) == ""
    assert salient({"type": "something_new", "payload": "{}"}) == ""


class ScriptedReader:
    """A reader that plays a script of fetch results, then stops the loop."""

    def __init__(self, script: list[Fleet | TopError], stop: threading.Event) -> None:
        self.script, self.stop, self.calls = script, stop, 0

    def fetch(self) -> Fleet:
        step = self.script[self.calls]
        self.calls += 1
        if self.calls == len(self.script):
            self.stop.set()
        if isinstance(step, TopError):
            raise step
        return step


def test_live_keeps_retrying_an_unreachable_cloud() -> None:
    stop = threading.Event()
    reader = ScriptedReader([TopError("cloud unreachable at http://x: refused"), FLEET, TopError("timed out")], stop)
    out = io.StringIO()
    code = live(reader, Console(file=out, width=160), interval_s=0, stop=stop, clock=lambda: NOW)  # type: ignore[arg-type]
    assert code == 0 and reader.calls == 3
    last = out.getvalue()
    assert "cloud unreachable, retrying: timed out" in last and "night-7" in last


def test_live_stops_at_a_refused_token(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    reader = ScriptedReader([TopError("the cloud refused the token (HTTP 401): check --token", auth=True), FLEET], stop)
    code = live(reader, Console(file=io.StringIO()), interval_s=0, stop=stop)  # type: ignore[arg-type]
    assert code == 2 and reader.calls == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "cloud top: the cloud refused the token (HTTP 401): check --token"
    ]


# ----------------------------------------------------------------------------- a real cloud


@pytest.fixture
def server(settings: CloudSettings, engine: Engine) -> Iterator[str]:
    """Serve the app with uvicorn on a free loopback port, with a store, an alarm and events in the database."""
    now = datetime.now(UTC)
    with make_session_factory(engine)() as session, session.begin():
        session.add(
            Store(
                id="night-7",
                name="Night 7",
                online=True,
                last_seen_at=now - timedelta(seconds=12),
                door="closed",
                lock="locked",
                occupancy=2,
                occupancy_cap=4,
                mode="night",
            )
        )
        session.add(Store(id="day-1", online=False))
        session.add(
            Alarm(
                store_id="night-7",
                alarm="door_held_open",
                source="door",
                active=True,
                severity="critical",
                raised_at=now - timedelta(minutes=3),
                event_ts=now - timedelta(minutes=3),
            )
        )
        for seconds, kind, payload in (
            (60, "access_granted", {"member_id": "m1", "via": "member_code"}),
            (30, "access_denied", {"reason": "occupancy_full", "member_id": "m2"}),
            (5, "mode_changed", {"mode": "night", "by": "schedule"}),
        ):
            session.add(
                Event(
                    event_id=uuid.uuid4(),
                    store_id="night-7",
                    type=kind,
                    ts=now - timedelta(seconds=seconds),
                    payload=json.dumps({"type": kind, **payload}),
                )
            )
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    assert wait_until(lambda: srv.started, timeout=15)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def test_once_prints_one_frame_of_a_real_cloud(
    server: str, engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("CLOUD_API_TOKEN", make_token(engine, Role.OPERATOR))
    assert main(["cloud", "top", "--url", server, "--once"]) == 0
    text = capsys.readouterr().out
    assert "1/2 stores online, 1 open alarms" in text
    night = next(line for line in text.splitlines() if "night-7" in line and "s ago" in line)
    assert all(cell in night for cell in ("online", "closed", "locked", "2/4", "night", "door_held_open"))
    events = text[text.index("Latest events") :]
    assert events.index("member m1") < events.index("occupancy_full") < events.index("night by schedule")


def test_once_json_prints_the_same_data(server: str, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    token = make_token(engine, Role.OPERATOR)
    assert main(["cloud", "top", "--url", server, "--token", token, "--once", "--json", "--events", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in data["stores"]] == ["day-1", "night-7"]
    assert [(a["store_id"], a["alarm"]) for a in data["alarms"]] == [("night-7", "door_held_open")]
    assert [e["type"] for e in data["events"]] == ["mode_changed", "access_denied"]  # newest first, as the API
    assert data["stores_total"] == 2


def test_a_bad_token_or_no_cloud_is_one_line_and_exit_2(
    server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUD_API_TOKEN", raising=False)
    assert main(["cloud", "top", "--url", server, "--token", "sst_wrong", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["cloud top: the cloud refused the token (HTTP 401): check --token"]
    nobody = f"http://127.0.0.1:{free_port()}"
    assert main(["cloud", "top", "--url", nobody, "--token", "sst_x", "--once"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cloud top: cloud unreachable at {nobody}")
    assert main(["cloud", "top", "--url", server, "--once"]) == 2
    assert "CLOUD_API_TOKEN" in capsys.readouterr().err
