"""The ``smartstore`` subcommands contributed by ``devices.cli``."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devices import cli, registry
from devices.transport import SerialSettings, open_port
from smartstore.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]


def test_register_adds_sim_devices_and_bench() -> None:
    parser = build_parser()
    assert parser.parse_args(["sim", "--list"]).func is cli._sim
    assert parser.parse_args(["devices", "probe", "--ports", "loop://", "--json"]).ports == ["loop://"]
    assert parser.parse_args(["devices", "selftest", "--simulated"]).func is cli._selftest
    assert parser.parse_args(["bench", "devices", "--trials", "3"]).trials == 3


def test_sim_list_names_every_simulator_and_its_faults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--list"]) == 0
    out = capsys.readouterr().out
    for spec in registry.SIMULATORS:
        assert spec.name in out
    assert "stuck" in out
    assert "unstable" in out
    assert "unplug" in out


def test_sim_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {item["name"] for item in listed} == {spec.name for spec in registry.SIMULATORS}
    assert next(i for i in listed if i["name"] == "toledo8217")["line"] == "9600 7E1"


def test_sim_refuses_unknown_devices_and_faults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "teleporter"]) == 2
    assert main(["sim", "escpos", "--fault", "stuck"]) == 2
    assert "stuck" in capsys.readouterr().err


def test_sim_serves_a_stable_link_with_faults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link = tmp_path / "ttySCALE"
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            main(["sim", "mtsics", "--link", str(link), "--duration", "1.5", "--fault", "overload", "--json"])
        )
    )
    thread.start()
    deadline = time.monotonic() + 3
    while not link.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    port = open_port(str(link), SerialSettings(), timeout=0.5)
    port.reset_input_buffer()
    port.write(b"SI\r\n")
    reply = b""
    while b"S +" not in reply and time.monotonic() < deadline:
        reply += port.read(32)
    port.close()
    thread.join(5)
    assert b"S +\r\n" in reply
    assert result == [0]
    info = json.loads(capsys.readouterr().out.splitlines()[0])
    assert info == {"device": "mtsics", "url": str(link), "line": "9600 8N1", "faults": ["overload"]}


def test_sim_over_tcp_in_a_subprocess() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartstore", "sim", "lcus", "--tcp", "0", "--duration", "2", "--json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["url"].startswith("socket://127.0.0.1:")
        port = open_port(info["url"], SerialSettings(), timeout=0.5)
        port.write(b"\xff")
        assert b"CH1: OFF" in port.read(64)
        port.close()
    finally:
        proc.wait(10)
    assert proc.returncode == 0


def test_selftest_subset_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "selftest", "--simulated", "--only", "scanner", "lcus", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [(r["device"], r["protocol"], r["ok"]) for r in reports] == [
        ("scanner", "scanner", True),
        ("lcus", "lcus", True),
    ]
    assert all({"name", "ok", "detail"} == set(c) for r in reports for c in r["checks"])


def test_probe_json(capsys: pytest.CaptureFixture[str]) -> None:
    from devices.pty import PtySimulatorHost

    with PtySimulatorHost(registry.build("cas")) as host:
        assert main(["devices", "probe", "--ports", host.path, "--listen", "0.3", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["protocol"] == "cas"


def test_probe_reports_errors_in_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["devices", "probe", "--ports", "/dev/does-not-exist-42"]) == 1
    assert "error" in capsys.readouterr().out
