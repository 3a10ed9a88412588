"""``smartstore cloud`` commands and ``CLOUD_*`` settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloud_sync.config import CloudSettings, SettingsError
from cloud_sync.db.migrate import head_revision
from smartstore.cli import build_parser, main


def test_settings_come_from_cloud_environment_variables() -> None:
    s = CloudSettings.from_env(
        {"CLOUD_DATABASE_URL": "sqlite:///x.db", "CLOUD_MQTT_PORT": "1884", "CLOUD_INGEST_STATE": "false"}
    )
    assert (s.database_url, s.mqtt_port, s.ingest_state) == ("sqlite:///x.db", 1884, False)
    assert CloudSettings.from_env({}).database_url == "sqlite:///./smartstore-cloud.db"
    with pytest.raises(SettingsError, match="CLOUD_MQTT_PORT"):
        CloudSettings.from_env({"CLOUD_MQTT_PORT": "not-a-port"})


def test_cloud_commands_are_registered() -> None:
    parser = build_parser()
    args = parser.parse_args(["cloud", "ingest", "--client-id", "w1", "--batch-size", "200"])
    assert args.cloud_command == "ingest"
    assert args.batch_size == 200
    args = parser.parse_args(["bench", "ingest", "--json", "--db", "postgresql", "--workers", "2", "--events", "10"])
    assert (args.db, args.workers, args.events, args.json) == ("postgresql", 2, 10, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["cloud", "token", "create", "--name", "x", "--role", "root"])


def test_migrate_then_manage_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["cloud", "migrate", "--database-url", url]) == 0
    assert f"revision {head_revision()}" in capsys.readouterr().out
    assert (
        main(["cloud", "token", "create", "--database-url", url, "--name", "ops", "--role", "operator", "--json"]) == 0
    )
    created = json.loads(capsys.readouterr().out)
    assert created["role"] == "operator"
    assert created["token"].startswith("sst_")
    assert main(["cloud", "token", "list", "--database-url", url]) == 0
    assert "\toperator\t-\tactive\tops" in capsys.readouterr().out
    assert main(["cloud", "token", "revoke", "--database-url", url, str(created["id"])]) == 0
    assert main(["cloud", "token", "list", "--database-url", url]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["cloud", "token", "revoke", "--database-url", url, "999"]) == 1


def _cloud(*argv: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartstore", "cloud", *argv],
        env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])} | env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_long_running_cloud_processes_fail_fast_with_one_line_on_a_database_they_cannot_use(tmp_path: Path) -> None:
    from smartstore.testing.broker import free_port

    missing = {"CLOUD_DATABASE_URL": f"sqlite:///{tmp_path / 'absent.db'}"}
    commands = (
        ["serve", "--port", str(free_port())],
        ["ingest"],
        ["downlink"],
        ["token", "create", "--name", "x", "--role", "operator"],
    )
    for argv in commands:
        done = _cloud(*argv, env=missing)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip().endswith("run 'smartstore cloud migrate' first"), done.stderr
    assert not (tmp_path / "absent.db").exists()  # no empty database left behind
    dead = {"CLOUD_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x", "CLOUD_DB_WAIT_S": "2"}
    done = _cloud("serve", "--port", str(free_port()), env=dead)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) >= 2
    assert all("database unreachable" in line for line in lines)
    assert all(line.endswith("retrying in 1 s") for line in lines[:-1]) and "retrying" not in lines[-1]


def test_serve_logs_one_format_for_everything_and_says_what_it_runs_on(tmp_path: Path) -> None:
    from smartstore.testing.broker import free_port

    db = {"CLOUD_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    assert _cloud("migrate", env=db).returncode == 0
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartstore",
            "cloud",
            "serve",
            "--port",
            str(port),
            "--no-downlink",
            "--log-format",
            "json",
        ],
        env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])} | db,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[dict[str, str]] = []
    try:
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.append(json.loads(raw))  # every line is JSON, uvicorn's own included
            if "Application startup complete" in lines[-1]["msg"]:
                break
    finally:
        proc.terminate()
        proc.wait(15)
    (first,) = [line["msg"] for line in lines if line["msg"].startswith("serve: ")]
    assert first.startswith("serve: smartstore ") and f"database sqlite:///{tmp_path / 'c.db'}" in first
    assert "downlink off" in first and {line["logger"] for line in lines} >= {"cloud_sync", "uvicorn.error"}
