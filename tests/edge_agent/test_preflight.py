"""``smartstore agent check`` against simulated devices on ptys and a real Mosquitto."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from edge_agent.preflight import Check, run_checks
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.signing import TEST_CLOUD
from tests.edge_agent.conftest import Sims, agent_settings, write_toml
from tests.edge_agent.helpers import Members


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_a_correctly_wired_store_passes_and_probing_never_moves_the_lock(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members
) -> None:
    video = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 15, (320, 240))
    for _ in range(3):
        writer.write(np.full((240, 320, 3), 128, np.uint8))
    writer.release()
    settings = agent_settings(tmp_path, sims, broker, members)
    settings["camera"] = {"source": str(video)}
    checks = _by_name(run_checks(write_toml(settings, tmp_path / "agent.toml")))
    assert all(c.ok for c in checks.values()), [c.line() for c in checks.values()]
    expected = [
        "config",
        "issuer keys",
        "downlink keys",
        "data dir",
        "lock",
        "door inputs",
        "door scanner",
        "door camera",
        "broker",
    ]
    assert list(checks) == expected
    assert "Modbus RTU IO module" in checks["door inputs"].detail
    assert TEST_CLOUD.kid in checks["downlink keys"].detail
    assert "320x240" in checks["door camera"].detail
    assert members.trusted and all(kid.hex() in checks["issuer keys"].detail for kid in members.trusted)
    assert not any(frame.on for frame in sims.lcus.history)  # a check never unlocks the door


def test_miswired_ports_missing_keys_and_a_dead_broker_fail_with_reasons(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members
) -> None:
    settings = agent_settings(tmp_path, sims, broker, members)
    settings["lock"] = {"type": "lcus", "url": sims.io_host.path}  # the relay cable in the IO module's port
    settings["issuer_keys_file"] = str(tmp_path / "missing.json")
    settings["downlink_keys_file"] = str(tmp_path / "no-downlink-keys.json")
    settings["camera"] = {"source": str(tmp_path / "no-such-video.avi")}
    broker.stop()
    config = write_toml(settings, tmp_path / "agent.toml")
    result = subprocess.run(
        [sys.executable, "-m", "smartstore", "agent", "check", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    checks = {c["name"]: c for c in report["checks"]}
    assert (
        not checks["lock"]["ok"]
        and "configured as lcus but answers as Modbus RTU IO module" in checks["lock"]["detail"]
    )
    assert checks["door inputs"]["ok"]  # the same module, probed once, is right for the inputs
    assert not checks["issuer keys"]["ok"] and "missing.json" in checks["issuer keys"]["detail"]
    assert not checks["downlink keys"]["ok"] and "every command and sync message" in checks["downlink keys"]["detail"]
    assert not checks["door camera"]["ok"]
    assert not checks["broker"]["ok"] and str(broker.port) in checks["broker"]["detail"]


def test_a_config_that_does_not_load_is_the_only_answer(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('store_id = "s 1"\n[lock]\ntype = "lcus"\nurl = "/dev/null"\n[door]\nunlock_s = 0\n')
    checks = run_checks(config)
    assert len(checks) == 1 and not checks[0].ok
    assert "store_id" in checks[0].detail and "door.unlock_s" in checks[0].detail


def test_a_missing_or_broken_config_file_is_reported_not_raised(tmp_path: Path) -> None:
    missing = run_checks(tmp_path / "nope.toml")
    assert [(c.name, c.ok) for c in missing] == [("config", False)] and "nope.toml" in missing[0].detail
    broken = tmp_path / "broken.toml"
    broken.write_text("store_id = \n")
    assert [(c.name, c.ok) for c in run_checks(broken)] == [("config", False)]
