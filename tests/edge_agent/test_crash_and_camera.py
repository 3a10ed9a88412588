"""The agent process killed with SIGKILL loses nothing; the camera reads real QR frames from video."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edge_agent.adapters.camera import CameraReader, decode_qr, place_on_frame, qr_image
from smartstore.testing.broker import MosquittoBroker
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings, write_toml
from tests.edge_agent.helpers import Members


def _start_agent(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "smartstore", "agent", "run", "--config", str(config), "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_kill_9_while_broker_down_loses_nothing(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    config = write_toml(agent_settings(tmp_path, sims, broker, members), tmp_path / "agent.toml")
    proc = _start_agent(config)
    try:
        assert subscriber.wait_for(
            lambda msgs: any(t.endswith("/agent/availability") and p == b"online" for t, p, _ in msgs), 15
        )
        broker.stop()
        for i in range(8):
            sims.scanner.scan(f"offline-scan-{i}")
            time.sleep(0.05)
        outbox = tmp_path / "data" / "outbox.db"
        import sqlite3

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sqlite3.connect(outbox) as db:
                if db.execute("SELECT COUNT(*) FROM outbox WHERE topic LIKE '%access_denied'").fetchone()[0] >= 8:
                    break
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    broker.start()
    proc = _start_agent(config)
    try:
        ok = subscriber.wait_for(
            lambda msgs: (
                len({json.loads(p)["detail"] for t, p, _ in msgs if t.endswith("/events/access_denied")}) >= 1
                and len([1 for t, p, _ in msgs if b"offline-scan-" in p or t.endswith("/events/access_denied")]) >= 8
            ),
            20,
        )
        assert ok
        denied = [json.loads(p) for t, p, _ in subscriber.messages if t.endswith("/events/access_denied")]
        assert len({d["event_id"] for d in denied}) == 8  # every scan made while down arrived
        seqs = list(dict.fromkeys(d["seq"] for d in denied))  # first arrivals (at least once)
        assert seqs == sorted(seqs)
        # the lock was commanded "locked" at both start-ups and never "unlocked"
        assert not [h for h in sims.lcus.history if h.on]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert subscriber.wait_for(
        lambda msgs: msgs[-1][1] == b"offline" or any(p == b"offline" for t, p, _ in msgs[-3:]), 5
    )


def test_camera_reads_codes_from_a_real_video_file(tmp_path: Path, members: Members) -> None:
    codes = [members.code(f"m-{i}", time.time()) for i in range(3)]
    video = tmp_path / "door.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10, (640, 480))
    empty = np.full((480, 640, 3), 120, np.uint8)
    for code in codes:
        for _ in range(3):
            writer.write(empty)
        for _ in range(3):
            writer.write(place_on_frame(qr_image(code, scale=3)))
    writer.release()
    seen: list[str] = []
    reader = CameraReader(str(video), on_code=seen.append)
    reader.start()
    assert reader.finished.wait(10)
    assert seen == codes  # each code once (debounced), in order, decoded from compressed frames
    assert reader.frames == 18


def test_decode_qr_ignores_noise_and_handles_grey() -> None:
    rng = np.random.default_rng(1)
    assert decode_qr(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)) == []
    grey = place_on_frame(qr_image("SM1.hello"))[..., 0]
    assert decode_qr(grey) == ["SM1.hello"]


def test_camera_that_cannot_open_reports_offline(tmp_path: Path) -> None:
    statuses: list[tuple[bool, str]] = []
    reader = CameraReader(
        str(tmp_path / "missing.avi"), on_code=lambda t: None, on_status=lambda ok, d: statuses.append((ok, d))
    )
    reader.start()
    assert reader.finished.wait(5)
    assert statuses
    assert statuses[0][0] is False


def test_agent_refuses_bad_config_with_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('store_id = "s1"\n[lock]\ntype = "lcus"\nurl = "/dev/null"\n[door]\nunlok_s = 3\n')
    for config in (bad, tmp_path / "missing.toml"):
        out = subprocess.run(
            [sys.executable, "-m", "smartstore", "agent", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2
        assert "error: cannot start the agent" in out.stderr
        assert "Traceback" not in out.stderr
    assert (
        "unlok_s"
        in subprocess.run(
            [sys.executable, "-m", "smartstore", "agent", "run", "--config", str(bad)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stderr
    )
