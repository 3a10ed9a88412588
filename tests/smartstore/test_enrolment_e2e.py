"""Enrolment end to end, as a technician does it: real cloud service, real broker with logins, real agent.

``cloud store create`` prints a token; ``agent enrol`` on the "Pi" shows the pairing code on the
simulated customer screen; the operator confirms it with ``cloud store confirm``; the agent runs
on the config it wrote and its events land in the cloud database.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from devices.escpos.simulator import EscposSimulator
from devices.mtsics.simulator import MtSicsSimulator
from devices.pty import PtySimulatorHost
from smartstore.stack import Stack
from smartstore.testing.broker import MosquittoBroker, free_port
from tests.edge_agent.conftest import Sims

REPO = Path(__file__).resolve().parents[2]
STORE = "store-e2e"


def _wait(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


class Cloud:
    """The operator's side of ``smartstore.stack``: its CLI, API and database, with exit codes kept."""

    def __init__(self, stack: Stack) -> None:
        """Act on a started stack."""
        self.stack = stack
        self.url = stack.url

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run ``smartstore cloud ...`` as the operator would, against the same database and broker."""
        return subprocess.run(
            [sys.executable, "-m", "smartstore", "cloud", *argv],
            env=self.stack.env("downlink"),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def issuer_key(self) -> None:
        """Create a member-pass issuer key through the API, as an operator."""
        assert self.stack.api.post("/issuer-keys")["kid"]

    def events(self, store_id: str) -> int:
        """Return how many events of ``store_id`` the cloud database holds."""
        return int(self.stack.scalar("SELECT count(*) FROM events WHERE store_id = :s", s=store_id))

    def online(self, store_id: str) -> bool | None:
        """Return what the cloud database says about the store's agent being connected."""
        rows = self.stack.rows("SELECT online FROM stores WHERE id = :s", s=store_id)
        return None if not rows else bool(rows[0][0])


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[MosquittoBroker, Cloud]]:
    """A broker with logins and the cloud service on it (``smartstore.stack``)."""
    stack = Stack(tmp_path / "cloud")
    try:
        stack.start()
        yield stack.broker, Cloud(stack)
    finally:
        stack.close()


@pytest.fixture
def station_sims(tmp_path: Path) -> Iterator[tuple[EscposSimulator, Path, Path]]:
    """A checkout station's pole display and scale on ptys."""
    pole, scale = EscposSimulator(), MtSicsSimulator()
    hosts = [
        PtySimulatorHost(pole, tmp_path / "tty-pole").start(),
        PtySimulatorHost(scale, tmp_path / "tty-scale").start(),
    ]
    try:
        yield pole, Path(hosts[0].path), Path(hosts[1].path)
    finally:
        for host in hosts:
            host.stop()


def _devices_file(tmp: Path, sims: Sims, pole_path: Path, scale_path: Path) -> Path:
    devices = {
        "lock": {"type": "lcus", "url": str(sims.lcus_host.path)},
        "inputs": {"url": str(sims.io_host.path)},
        "scanner": {"url": str(sims.scanner_host.path)},
        "checkout": {
            "stations": [
                {
                    "station_id": "co1",
                    "scale": {"url": str(scale_path)},
                    "screen": {"type": "escpos", "url": str(pole_path)},
                }
            ]
        },
    }
    path = tmp / "devices.toml"
    path.write_text(tomli_w.dumps(devices))
    return path


def test_a_technician_enrols_a_store_and_its_events_reach_the_cloud(
    tmp_path: Path, fleet: tuple[MosquittoBroker, Cloud], sims: Sims, station_sims: tuple[EscposSimulator, Path, Path]
) -> None:
    _broker, cloud = fleet
    pole, pole_path, scale_path = station_sims
    cloud.issuer_key()  # members' passes will be checked against it
    created = cloud.cli("store", "create", STORE, "--json", "--qr", str(tmp_path / "enrol.png"))
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)["enrol_uri"]  # what the QR says: cloud URL and token
    assert (tmp_path / "enrol.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    etc = tmp_path / "etc"
    enrol = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartstore",
            "agent",
            "enrol",
            "--token",
            token,
            "--config-out",
            str(etc / "agent.toml"),
            "--devices",
            str(_devices_file(tmp_path, sims, pole_path, scale_path)),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait(lambda: pole.lines[0].startswith("Pairing code")), pole.lines
        code = pole.lines[0].removeprefix("Pairing code").replace(" ", "")
        wrong = cloud.cli("store", "confirm", STORE, "000000" if code != "000000" else "111111")
        assert wrong.returncode == 1 and "wrong pairing code" in wrong.stdout + wrong.stderr
        confirmed = cloud.cli("store", "confirm", STORE, code)
        assert confirmed.returncode == 0, confirmed.stderr
        out, err = enrol.communicate(timeout=60)
    finally:
        enrol.kill()
    assert enrol.returncode == 0, err
    assert f"enrolled as store {STORE}" in out

    for secret in ("mqtt-password", "api-token", "device.key", "agent.toml"):
        assert stat.S_IMODE((etc / secret).stat().st_mode) == 0o600, secret
    assert "password =" not in (etc / "agent.toml").read_text()  # secrets live in files, not in the TOML

    check = subprocess.run(
        [sys.executable, "-m", "smartstore", "agent", "check", "--config", str(etc / "agent.toml"), "--json"],
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    checks = {c["name"]: c for c in json.loads(check.stdout)["checks"]}
    assert all(c["ok"] for c in checks.values()), [c for c in checks.values() if not c["ok"]]
    assert {"issuer keys", "downlink keys", "broker", "lock"} <= set(checks)

    run = subprocess.Popen(
        [sys.executable, "-m", "smartstore", "agent", "run", "--config", str(etc / "agent.toml")],
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait(lambda: cloud.events(STORE) > 0, timeout=60)
        assert _wait(lambda: cloud.online(STORE) is True)
        # A stolen Pi: the operator retires the store; the broker drops the connected agent at once
        # (its last will says offline) and refuses it from then on.
        retired = cloud.cli("store", "retire", STORE)
        assert retired.returncode == 0, retired.stderr
        assert _wait(lambda: cloud.online(STORE) is False)
        assert run.poll() is None  # the agent keeps the door safe and retries; the broker refuses it
    finally:
        run.terminate()
        run.wait(15)


def test_enrol_against_an_unreachable_cloud_or_a_bad_token_is_one_line(
    tmp_path: Path, fleet: tuple[MosquittoBroker, Cloud]
) -> None:
    _broker, cloud = fleet
    argv = [sys.executable, "-m", "smartstore", "agent", "enrol", "--config-out", str(tmp_path / "etc" / "agent.toml")]
    env = os.environ | {"PYTHONPATH": str(REPO)}
    dead = subprocess.run(
        [*argv, "--cloud", f"http://127.0.0.1:{free_port()}", "--token", "est_" + "x" * 32],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dead.returncode == 2 and "cloud unreachable" in dead.stderr and "Traceback" not in dead.stderr
    unknown = subprocess.run(
        [*argv, "--cloud", cloud.url, "--token", "est_" + "y" * 32],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unknown.returncode == 2 and "unknown enrolment token" in unknown.stderr
    assert not (tmp_path / "etc" / "agent.toml").exists()
