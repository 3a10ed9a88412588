"""The chaos runner's parts that need no processes: its fault schedule, agent config and outbox reading."""

from __future__ import annotations

import random
import sqlite3
import time
import tomllib
from pathlib import Path

from edge_agent.config import AgentSettings
from smartstore.testing.chaos import FAULT_KINDS, fault_schedule
from smartstore.testing.chaos_check import OutboxWatch
from smartstore.testing.chaos_traffic import Hardware, Members, agent_settings, write_toml


def test_the_schedule_has_every_kind_and_follows_the_seed() -> None:
    schedule = fault_schedule(30, random.Random(5))
    assert len(schedule) == 30
    assert set(schedule) == set(FAULT_KINDS)
    assert schedule == fault_schedule(30, random.Random(5))
    assert schedule != fault_schedule(30, random.Random(6))


def test_the_agent_config_it_writes_is_valid(tmp_path: Path) -> None:
    hw = Hardware(tmp_path)
    try:
        settings = agent_settings(
            hw,
            data_dir=tmp_path / "data",
            keys=Members().write_keys(tmp_path / "keys.json"),
            mqtt_port=1883,
            checkout=True,
        )
        path = write_toml(settings, tmp_path / "agent.toml")
        parsed = AgentSettings.model_validate(tomllib.loads(path.read_text()))
    finally:
        hw.stop()
    assert parsed.store_id == "chaos-store"
    assert parsed.checkout is not None
    assert parsed.checkout.stations[0].scale is not None


def test_outbox_watch_reads_written_pending_and_oldest_age(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT, topic TEXT, payload BLOB,"
            " droppable INTEGER, created REAL);"
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        )
        db.execute("INSERT INTO counters VALUES ('written', 7)")
        db.execute(
            "INSERT INTO outbox (event_id, topic, payload, droppable, created) VALUES ('e', 't', x'', 0, ?)",
            (time.time() - 4,),
        )
    watch = OutboxWatch(path)
    assert watch.sample() == (7, 1)
    assert 3.5 < watch.max_age_s < 10


def test_lost_events_are_counted_by_the_fault_before_them() -> None:
    from smartstore.testing.chaos import lost_by_fault

    marks = [(10, "restart_broker"), (20, "kill9_agent"), (30, "restart_broker")]
    assert lost_by_fault([3, 12, 13, 25, 31], marks) == {
        "before_any_fault": 1,
        "kill9_agent": 1,
        "restart_broker": 3,
    }
