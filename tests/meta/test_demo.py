"""The README's main job (`make demo`): a night on the whole real system, counted by the cloud, loses nothing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.messages import DenyReason
from smartstore.demo import run_demo

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_night_refuses_each_reason_once_and_loses_no_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # it runs from any working directory
    summary = run_demo(quiet=True, workdir=str(tmp_path / "night"))
    assert summary["ok"]
    # alice, bob, grace online; frank while the broker was down; ivan from the phone app in Chromium
    assert summary["app_entries"] == (1 if shutil.which("chromium") else 0)
    assert summary["granted"] == 4 + summary["app_entries"]
    assert (summary["staff_entries"], summary["remote_unlocks"], summary["reviews_resolved"]) == (1, 1, 1)
    assert summary["denied"] == {reason.value: 1 for reason in DenyReason}
    assert summary["lost"] == 0
    assert summary["events_in_cloud"] == summary["events_written"] > 0
    assert summary["dead_letters"] == 0
    assert [(c["name"], c["status"]) for c in summary["command_replies"]] == [
        ("resolve_review", "ok"),
        ("reset_occupancy", "ok"),
        ("unlock", "ok"),
        ("lockdown", "ok"),
        ("lockdown", "ok"),
    ]
    assert all(c["latency_ms"] is not None for c in summary["command_replies"])
    # alice paid online, frank offline during the broker restart, bob was declined by his wallet, grace
    # paid at the station with only a pole display and a scanner (its printed pay code)
    assert (summary["sales"], summary["offline_sales"], summary["paid_without_touch"]) == (3, 1, 1)
    assert summary["payments"] == {"approved": 2, "declined": 1}
    before, after = summary["price_seen"]["before"], summary["price_seen"]["after"]
    assert before.split()[-1] != after.split()[-1] and "Juice" in before and "Juice" in after
    assert summary["revocation_ms"] > 0
    assert {"door_forced", "door_held_open", "tailgating"} <= set(summary["alarms"])
    assert summary["alarms_acknowledged"] >= 2
    _check_what_the_night_left_on_disk(tmp_path / "night" / "data")


def _check_what_the_night_left_on_disk(data: Path) -> None:
    """Issue 12, holes 3 and 6: data dir 0700, files 0600 and documented; the journal keeps what it must."""
    files = sorted(p for p in data.rglob("*") if p.is_file())
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: oct(0o600) for p in files}
    documented = (REPO / "docs" / "security.md").read_text()
    names = ["reviews/<station>.jpg" if p.parent.name == "reviews" else p.name for p in files]
    assert [n for n in names if f"`{n.removesuffix('-wal').removesuffix('-shm')}`" not in documented] == []
    with sqlite3.connect(data / "outbox.db") as db:
        pending = {str(r[0]) for r in db.execute("SELECT event_id FROM outbox")}
    records = [json.loads(line) for line in (data / "sales.jsonl").read_text().splitlines()]
    for r in records:  # no items, station, authorisation or promotions: what the offline rules need
        assert set(r) == {"sale_id", "event_id", "member_id", "total_cents", "payment_mode", "at", "coupon_ids"}
    # Acknowledged sales are gone; an offline one stays until its night ends (the member's floor limit).
    assert [r["payment_mode"] for r in records if r["event_id"] not in pending] == ["offline"]
    with sqlite3.connect(data / "replay.db") as db:
        rows = db.execute("SELECT fingerprint, expires_at FROM used_codes").fetchall()
    assert rows and all(len(fp) == 16 and exp <= time.time() + 60 for fp, exp in rows)


def _processes_using(path: Path) -> list[int]:
    """Return the pids whose command line or environment names ``path``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            seen = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(path).encode() in seen:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize(
    ("sig", "after", "started"),
    # the demo, broker, serve, ingest, and then the agent
    [(signal.SIGINT, "agent running", 5), (signal.SIGTERM, "dashboard at", 4)],
)
def test_ctrl_c_or_sigterm_mid_night_stops_every_process_the_demo_started(
    tmp_path: Path, sig: signal.Signals, after: str, started: int
) -> None:
    workdir = tmp_path / "night"
    demo = subprocess.Popen(
        [sys.executable, "-m", "smartstore", "demo", "--workdir", str(workdir)],
        cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None
        reached = next((line for line in demo.stdout if after in line), None)
        if reached is None:  # the demo ended before that step: say why
            pytest.fail(f"the demo stopped before {after!r}: {demo.communicate(timeout=60)[1][-2000:]}")
        assert len(_processes_using(workdir)) >= started
        demo.send_signal(sig)
        _out, err = demo.communicate(timeout=120)
    finally:
        demo.kill()
        for pid in _processes_using(workdir):  # a failed run must not leave its children behind for later tests
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    assert demo.returncode == 130, err[-2000:]
    assert err.strip().splitlines() == ["demo: interrupted; everything it started is stopped"]
    assert _processes_using(workdir) == []
