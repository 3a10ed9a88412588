"""Issue 15: systemd readiness and a watchdog fed only while the agent makes progress; its log says what it does."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.adapters.systemd import Notifier, Watchdog
from edge_agent.bootstrap import build_agent
from edge_agent.config import AgentSettings
from edge_agent.domain.door import DoorTick
from tests.edge_agent.conftest import Sims, agent_settings, write_toml
from tests.edge_agent.helpers import Members

REPO = Path(__file__).resolve().parents[2]


class NotifySocket:
    """The service manager's end: a datagram socket collecting what the agent sends."""

    def __init__(self, path: Path) -> None:
        """Bind ``path`` and collect datagrams on a thread."""
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.put(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def next_with(self, field: str, timeout: float) -> str | None:
        """Return the next datagram with a line starting with ``field`` within ``timeout`` (others are skipped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                return None
            if any(line.startswith(field) for line in message.split("\n")):
                return message
        return None

    def drain(self) -> list[str]:
        """Return and forget what arrived so far."""
        out = []
        while not self.messages.empty():
            out.append(self.messages.get_nowait())
        return out

    def close(self) -> None:
        """Stop reading and close."""
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    """A notify socket at a short path (AF_UNIX paths are limited to 108 bytes)."""
    path = Path(f"/tmp/ss-notify-{os.getpid()}-{time.monotonic_ns()}.sock")
    sock = NotifySocket(path)
    yield sock
    sock.close()
    path.unlink(missing_ok=True)


def test_the_notifier_is_silent_without_systemd_and_speaks_the_protocol_with_it(notify: NotifySocket) -> None:
    assert not Notifier({}).enabled and Notifier({}).send("READY=1") is False
    assert Notifier({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}).watchdog_s is None  # not for this process
    n = Notifier({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "4000000"})
    assert n.watchdog_s == 4.0
    assert n.send("READY=1", "STATUS=up")
    assert notify.next_with("READY=1", 5) == "READY=1\nSTATUS=up"
    assert Notifier({"NOTIFY_SOCKET": "@ss-abstract-test"}).address == "\0ss-abstract-test"


def test_a_watchdog_check_that_raises_counts_as_failing(notify: NotifySocket) -> None:
    def broken() -> str | None:
        raise RuntimeError("boom")

    dog = Watchdog(Notifier({"NOTIFY_SOCKET": str(notify.path)}), [("fine", lambda: None), ("broken", broken)])
    assert dog.problem() == "broken: check failed: boom"
    assert dog.beat() is False
    assert notify.next_with("STATUS=stalled: broken: check failed: boom", 5)


def test_the_agent_says_ready_then_feeds_the_watchdog_and_logs_its_life(
    tmp_path: Path, sims: Sims, members: Members, notify: NotifySocket
) -> None:
    config = write_toml(agent_settings(tmp_path, sims, None, members), tmp_path / "agent.toml")
    env = os.environ | {
        "PYTHONPATH": str(REPO),
        "NOTIFY_SOCKET": str(notify.path),
        "WATCHDOG_USEC": "1000000",
        "WATCHDOG_PID": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartstore", "agent", "run", "--config", str(config), "--log-format", "json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = notify.next_with("READY=1", 60)
        assert ready is not None and "STATUS=store store-1: door locked, agent running" in ready
        assert sims.lcus.history and not sims.lcus.states[1]  # the relay was set locked before READY
        assert notify.next_with("WATCHDOG=1", 5) is not None
        assert notify.next_with("WATCHDOG=1", 5) is not None
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert notify.next_with("STOPPING=1", 5) is not None
    lines = [json.loads(line) for line in err.splitlines()]
    messages = [line["msg"] for line in lines]
    assert messages[0].endswith("written locked before start-up")  # the relay first, before the config is read
    (starting,) = [m for m in messages if m.startswith("starting: smartstore ")]
    assert "store store-1" in starting and "door devices lock, inputs, scanner" in starting
    assert "broker 127.0.0.1:1883 (plain, delivery cloud)" in starting  # no [mqtt] table: the defaults
    assert any(m.startswith("ready: store store-1") for m in messages)
    assert messages[-1] == "stopped"
    assert {line["level"] for line in lines} <= {"info", "warning"} and all(line["ts"] for line in lines)


def test_a_stalled_decision_loop_stops_the_watchdog_pings_until_it_moves_again(
    tmp_path: Path, sims: Sims, members: Members, notify: NotifySocket
) -> None:
    settings = AgentSettings.model_validate(agent_settings(tmp_path, sims, None, members))
    notifier = Notifier({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "600000"})  # a ping every 0.3 s
    running = build_agent(settings, notifier=notifier)
    release = threading.Event()
    door = running.agent.door
    assert door is not None
    handle = door.handle

    class Hang(DoorTick):
        """An input whose handling never returns (a driver call that hangs, say)."""

    def hanging(item: object) -> None:
        if isinstance(item, Hang):
            release.wait(30)
        else:
            handle(item)  # type: ignore[arg-type]

    door.handle = hanging  # type: ignore[method-assign]
    try:
        assert notify.next_with("WATCHDOG=1", 5) is not None
        running.agent.submit(Hang())
        stalled = notify.next_with("STATUS=stalled: decision loop: stuck in one input for ", 10)
        assert stalled is not None
        notify.drain()
        assert notify.next_with("WATCHDOG=1", 1.5) is None  # five ping periods: still stalled, never fed
        release.set()
        assert notify.next_with("WATCHDOG=1", 5) is not None
    finally:
        release.set()
        running.stop()
