"""What a store keeps on disk (issue 12, holes 3 and 6), measured on real agents and a demo night.

- a member code used before a restart (orderly, or ``kill -9``) is refused after it;
- a code used at the door cannot open a checkout session, nor the other way round;
- the data directory is 0700, its files 0600, and the sales journal holds no items and only the
  sales the ledger still needs once the cloud has acknowledged them (docs/security.md): checked on
  the demo night's data directory in tests/meta/test_demo.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.messages import DenyReason
from edge_agent.bootstrap import RunningAgent, build_agent
from edge_agent.config import AgentSettings
from edge_agent.domain.actions import FEEDBACK, Feedback
from smartstore.testing.broker import MosquittoBroker
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings, write_toml
from tests.edge_agent.helpers import Members
from tests.edge_agent.test_checkout_integration import Station as _Sims
from tests.edge_agent.test_checkout_integration import _wait


class Station(_Sims):
    """A checkout station's simulated scale, screen and scanner."""

    def settings(self) -> dict:
        return {
            "station_id": "co1",
            "scale": {"type": "mtsics", "url": self.hosts[0].path},
            "screen": {"type": "nextion", "url": self.hosts[1].path},
            "scanner": {"url": self.hosts[2].path},
        }


class Feedbacks:
    """The door reader's feedback, as the agent gives it."""

    def __init__(self) -> None:
        self.items: list[Feedback] = []
        self.cond = threading.Condition()

    def __call__(self, fb: Feedback) -> None:
        with self.cond:
            self.items.append(fb)
            self.cond.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> list[Feedback]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= count, timeout), self.items
            return list(self.items)


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    st = Station(tmp_path)
    yield st
    st.stop()


def _readers_online(running: RunningAgent) -> None:
    assert all(driver.wait_online(10) for driver in running.drivers)


def test_a_code_used_before_a_restart_is_refused_after_it(tmp_path: Path, sims: Sims, members: Members) -> None:
    settings = AgentSettings.model_validate(agent_settings(tmp_path, sims, None, members))
    code = members.code("m-1", time.time())
    seen = Feedbacks()
    running = build_agent(settings, on_feedback=seen)
    try:
        _readers_online(running)
        sims.scanner.scan(code)
        assert seen.wait(1)[0].granted
    finally:
        running.stop()
    seen = Feedbacks()
    running = build_agent(settings, on_feedback=seen)  # what systemd does a second later
    try:
        _readers_online(running)  # a line scanned before the port is open is lost, not refused
        sims.scanner.scan(code)
        refused = seen.wait(1)[0]
        assert (refused.granted, refused.reason) == (False, DenyReason.REPLAYED)
    finally:
        running.stop()


def _run_agent(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "smartstore", "agent", "run", "--config", str(config), "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _online(messages: list[tuple[str, bytes, bool]]) -> int:
    return sum(1 for t, p, _ in messages if t.endswith("/agent/availability") and p == b"online")


def _events(subscriber: Subscriber, kind: str) -> list[dict]:
    return [p for p in subscriber.payloads() if p.get("type") == kind]


def test_a_code_used_before_kill_9_is_refused_after_the_restart(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    config = write_toml(agent_settings(tmp_path, sims, broker, members), tmp_path / "agent.toml")
    code = members.code("m-1", time.time())
    proc = _run_agent(config)
    try:
        assert subscriber.wait_for(lambda m: _online(m) == 1)
        sims.scanner.scan(code)
        assert subscriber.wait_for(lambda m: bool(_events(subscriber, "access_granted")))
        os.kill(proc.pid, signal.SIGKILL)  # no orderly stop: only what was on disk at the grant survives
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = _run_agent(config)
    try:
        assert subscriber.wait_for(lambda m: _online(m) == 2, 20)
        sims.scanner.scan(code)
        assert subscriber.wait_for(lambda m: bool(_events(subscriber, "access_denied")), 20)
        assert {d["reason"] for d in _events(subscriber, "access_denied")} == {"replayed"}
        assert len({g["event_id"] for g in _events(subscriber, "access_granted")}) == 1  # delivered at least once
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def _home_text(station: Station) -> str:
    return str(station.screen.value("t0", page="home") or "")


def test_a_code_used_at_the_door_opens_no_checkout_session_and_back(
    tmp_path: Path, sims: Sims, members: Members, station: Station
) -> None:
    seen = Feedbacks()
    raw = agent_settings(tmp_path, sims, None, members)
    raw["checkout"] = {"stations": [station.settings()], "model": None}
    running = build_agent(AgentSettings.model_validate(raw), on_feedback=seen)
    door_code = members.code("m-1", time.time())
    checkout_code = members.code("m-2", time.time())
    try:
        sims.scanner.scan(door_code)
        assert seen.wait(1)[0].granted
        station.scanner.scan(door_code)  # photographed at the door, shown at the checkout
        assert _wait(lambda: FEEDBACK[DenyReason.REPLAYED] in _home_text(station)), _home_text(station)
        assert running.agent.stations["co1"].session is None

        station.scanner.scan(checkout_code)
        assert _wait(lambda: station.screen.page.name == "basket")  # the session is open
        sims.scanner.scan(checkout_code)
        refused = seen.wait(2)[1]
        assert (refused.granted, refused.reason) == (False, DenyReason.REPLAYED)
    finally:
        running.stop()
