"""Issue 15: the systemd units ship valid, and say what keeps a door agent alive."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))
SMARTSTORE = Path(sys.executable).with_name("smartstore")


def _verify(unit_dir: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{n}" for n in names)],
        cwd=unit_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _installed_copy(tmp_path: Path, unit: Path, text: str | None = None) -> str:
    """Copy ``unit`` with ExecStart pointing at this venv's smartstore (verify checks that it exists)."""
    body = (text or unit.read_text()).replace("/opt/smartstore/.venv/bin/smartstore", str(SMARTSTORE))
    name = unit.name.replace("@.service", "@1.service")
    (tmp_path / name).write_text(body)
    return name


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is installed by make setup")
def test_every_unit_passes_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    assert {u.name for u in UNITS} >= {
        "smartstore-agent.service",
        "smartstore-cloud-api.service",
        "smartstore-cloud-ingest@.service",
        "smartstore-cloud-downlink.service",
    }
    names = [_installed_copy(tmp_path, unit) for unit in UNITS]
    done = _verify(tmp_path, names)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is installed by make setup")
def test_verify_would_catch_a_typo(tmp_path: Path) -> None:
    agent = DEPLOY / "smartstore-agent.service"
    name = _installed_copy(tmp_path, agent, agent.read_text().replace("Type=notify", "Type=notifyy"))
    assert "Failed to parse service type" in _verify(tmp_path, [name]).stderr


def test_the_agent_unit_is_watched_restarted_forever_and_never_waits_for_the_network() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    text = (DEPLOY / "smartstore-agent.service").read_text()
    unit.read_string(text)
    service = unit["Service"]
    assert service["Type"] == "notify" and int(service["WatchdogSec"]) > 0
    assert service["Restart"] == "always" and unit["Unit"]["StartLimitIntervalSec"] == "0"
    assert "network-online.target" not in text
    allowed = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("DeviceAllow=")]
    assert {"char-ttyAMA rw", "char-ttyS rw", "char-ttyUSB rw", "char-ttyACM rw"} <= set(allowed)


def _exported_metric_names() -> set[str]:
    """Every metric name the agent and the cloud define (read from their sources)."""
    import re

    root = DEPLOY.parent
    text = "".join(
        p.read_text()
        for p in [
            *root.glob("edge_agent/adapters/metrics.py"),
            root / "cloud_sync/main.py",
            root / "cloud_sync/ingest/worker.py",
        ]
    )
    return set(re.findall(r'"(smartstore_[a-z_]+)"', text))


def test_the_alert_rules_and_the_dashboard_use_only_metrics_that_exist() -> None:
    import json
    import re

    import yaml

    names = _exported_metric_names()
    suffixes = ("_total", "_bucket", "_count", "_sum")
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    assert all(r.get("annotations", {}).get("summary") for g in rules["groups"] for r in g["rules"])
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"smartstore_[a-z_]+", e)}
    unknown = {m for m in used if m not in names and not any(m.endswith(s) and m[: -len(s)] in names for s in suffixes)}
    assert used and unknown == set()


def test_the_install_script_lays_out_users_directories_units_and_the_command(tmp_path: Path) -> None:
    import getpass
    import grp
    import os
    import stat

    user = getpass.getuser()
    group = grp.getgrgid(os.getgid()).gr_name
    env = os.environ | {
        "SMARTSTORE_ROOT": str(tmp_path),
        "SMARTSTORE_SKIP_VENV": "1",  # the venv step is `pip install .[agent]`: exercised by make setup's own install
        "SMARTSTORE_USER": user,
        "SMARTSTORE_GROUP": group,
    }
    for _ in range(2):  # running it again is safe
        done = subprocess.run(
            ["bash", str(DEPLOY / "install-agent.sh")], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    for path, mode in ((tmp_path / "etc/smartstore", 0o700), (tmp_path / "var/lib/smartstore", 0o700)):
        assert stat.S_IMODE(path.stat().st_mode) == mode and path.owner() == user
    assert (tmp_path / "etc/systemd/system/smartstore-agent.service").read_text() == (
        DEPLOY / "smartstore-agent.service"
    ).read_text()
    assert (tmp_path / "etc/udev/rules.d/99-smartstore.rules").exists()
    assert os.readlink(tmp_path / "usr/local/bin/smartstore") == "/opt/smartstore/.venv/bin/smartstore"
    assert stat.S_IMODE((tmp_path / "etc/smartstore/agent.example.toml").stat().st_mode) == 0o640
    assert (tmp_path / "opt/smartstore/docs/deployment-pi.md").exists()
    assert "sudo -u " + user + " smartstore agent enrol" in done.stdout


def test_the_install_script_refuses_to_run_as_a_normal_user_on_the_real_system() -> None:
    import os

    if os.getuid() == 0:
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", str(DEPLOY / "install-agent.sh")],
            capture_output=True,
            text=True,
            timeout=60,
        )
    else:
        done = subprocess.run(["bash", str(DEPLOY / "install-agent.sh")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "run as root" in done.stderr
