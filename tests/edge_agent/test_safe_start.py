"""Issue 12, hole 7, with real agent processes: the door is safe when the agent is not.

kill -9 mid-pulse (the relay watched from the simulator), a damaged outbox and a failed
start-up (the lock is written locked first, whatever fails), lockdown across a kill -9, and two
agents on one data directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from contracts.messages import LockdownCommand, dump
from devices.modbus.protocol import FlashCoil, WriteCoil, encode
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.signing import signed
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings, write_toml
from tests.edge_agent.helpers import STORE, Members

LCUS_ON = bytes.fromhex("A0 01 01 A2")


def _start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "smartstore", "agent", "run", "--config", str(config), "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def _online_after(subscriber: Subscriber, start: int, timeout: float = 20) -> bool:
    return subscriber.wait_for(
        lambda msgs: any(t.endswith("/agent/availability") and p == b"online" for t, p, _ in msgs[start:]), timeout
    )


def _energised_by_a_dead_agent(sims: Sims) -> None:
    """Leave the LCUS relay ON, as a killed agent mid-pulse does."""
    sims.lcus.states[1] = True


def _relay_off(sims: Sims, timeout: float = 10) -> bool:
    with sims.lcus.changed:
        return sims.lcus.changed.wait_for(lambda: not sims.lcus.states[1], timeout)


def test_kill_9_mid_pulse_the_board_ends_the_pulse_without_any_agent(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    settings = agent_settings(tmp_path, sims, broker, members, unlock_s=3.0)
    settings["lock"] = {"type": "modbus", "url": sims.io_host.path, "timed_pulse": True}  # with the door inputs
    proc = _start(write_toml(settings, tmp_path / "agent.toml"))
    try:
        assert _online_after(subscriber, 0)
        sims.scanner.scan(members.code("m-1", time.time()))
        with sims.io.changed:
            assert sims.io.changed.wait_for(lambda: sims.io.coils[0], 10)  # unlocked: the pulse is running
        _kill_9(proc)
    finally:
        _stop(proc)
    flash = encode(FlashCoil(1, 0, 30))  # "flash on" coil 0 for 30 x 100 ms: the board times the unlock
    assert sims.io.flashes == [FlashCoil(1, 0, 30)]
    with sims.io.changed:
        assert sims.io.changed.wait_for(lambda: not sims.io.coils[0], 10)  # relocked by the board itself
    after_flash = sims.io_host.received[sims.io_host.received.rfind(flash) :]
    assert encode(WriteCoil(1, 0, False)) not in after_flash  # no agent wrote "locked" after the pulse began


def test_a_damaged_outbox_at_start_up_is_moved_aside_and_the_agent_runs(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "outbox.db").write_bytes(b"\x13garbage, not SQLite" * 500)
    _energised_by_a_dead_agent(sims)
    proc = _start(write_toml(agent_settings(tmp_path, sims, broker, members), tmp_path / "agent.toml"))
    try:
        assert _relay_off(sims)  # locked first
        assert subscriber.wait_for(lambda msgs: any(b'"outbox_damaged"' in p for t, p, _ in msgs), 20)
        assert proc.poll() is None  # up, not in a restart loop
        alarm = next(json.loads(p) for t, p, _ in subscriber.messages if b'"outbox_damaged"' in p)
        assert alarm["type"] == "alarm_raised" and alarm["severity"] == "critical"
        assert [p.name for p in data.glob("outbox.db.damaged-*")]
        assert LCUS_ON not in sims.lcus_host.received
    finally:
        assert _stop(proc) == 0


def test_a_start_up_failure_leaves_the_lock_locked_with_one_clear_line(
    tmp_path: Path, sims: Sims, members: Members
) -> None:
    settings = agent_settings(tmp_path, sims, None, members)
    settings["issuer_keys_file"] = str(tmp_path / "missing-keys.json")
    _energised_by_a_dead_agent(sims)
    config = write_toml(settings, tmp_path / "a.toml")
    out = subprocess.run(
        [sys.executable, "-m", "smartstore", "agent", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    [line] = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert "missing-keys.json" in line and "the lock was left locked" in line
    assert _relay_off(sims)


def test_lockdown_survives_a_kill_9_and_a_valid_code_is_refused_after_it(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    config = write_toml(agent_settings(tmp_path, sims, broker, members), tmp_path / "agent.toml")
    proc = _start(config)
    client = broker.login(mqtt.Client(CallbackAPIVersion.VERSION2, client_id="operator"))
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert _online_after(subscriber, 0)
        cmd = LockdownCommand(correlation_id="ld-1", expires_at=datetime.now(UTC) + timedelta(seconds=60), active=True)
        topic = f"smartstore/v1/{STORE}/cmd/lockdown"
        client.publish(topic, signed(topic, dump(cmd)), qos=1).wait_for_publish(5)  # as the cloud signs it
        assert subscriber.wait_for(
            lambda msgs: any(t.endswith("/lockdown/reply") and b'"ok"' in p for t, p, _ in msgs), 10
        )
        _kill_9(proc)
        mark = len(subscriber.messages)
        proc = _start(config)
        assert _online_after(subscriber, mark)
        sims.scanner.scan(members.code("m-1", time.time()))
        assert subscriber.wait_for(
            lambda msgs: any(t.endswith("/events/access_denied") and b'"lockdown"' in p for t, p, _ in msgs[mark:]), 10
        )
        assert LCUS_ON not in sims.lcus_host.received  # never unlocked
    finally:
        client.loop_stop()
        client.disconnect()
        _stop(proc)


def test_a_second_agent_on_the_same_data_directory_refuses_and_never_touches_the_relay(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    config = write_toml(agent_settings(tmp_path, sims, broker, members), tmp_path / "agent.toml")
    first = _start(config)
    try:
        assert _online_after(subscriber, 0)
        seen = len(sims.lcus_host.received)
        second = subprocess.run(
            [sys.executable, "-m", "smartstore", "agent", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert f"another agent (pid {first.pid}) is running on data directory {tmp_path / 'data'}" in second.stderr
        assert "Traceback" not in second.stderr
        assert len(sims.lcus_host.received) == seen  # not a byte to the relay
        assert first.poll() is None
    finally:
        assert _stop(first) == 0
