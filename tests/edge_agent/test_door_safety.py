"""The door is safe when the agent is not: timed unlocks, lockdown and mode kept, damaged outbox, one agent per dir."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from contracts.messages import AlarmKind, LockdownCommand, Mode, SetModeCommand
from contracts.topics import Topics
from edge_agent.adapters import agent_lock
from edge_agent.adapters.door_state import DoorMemory, load_door_state, save_door_state
from edge_agent.adapters.outbox import Outbox
from edge_agent.adapters.outbox_recovery import damage, open_outbox
from edge_agent.domain.door import CodePresented, CommandReceived, DoorTick, ExitPressed, SetLock
from edge_agent.safe_start import config_ports
from edge_agent.services.door import DoorService
from edge_agent.services.events import EventEmitter
from tests.edge_agent.helpers import make_controller


def _in(clock: object, s: float) -> datetime:
    return datetime.fromtimestamp(clock.wall + s, UTC)  # type: ignore[attr-defined]


def test_a_grant_is_a_timed_unlock_and_a_longer_window_times_it_again() -> None:
    ctl, members, clock = make_controller(unlock_s=5)
    [first] = [a for a in ctl.handle(CodePresented(members.code("m1", clock.wall))) if isinstance(a, SetLock)]
    assert first == SetLock(True, pulse_s=5)
    clock.advance(3)
    assert [a for a in ctl.handle(ExitPressed()) if isinstance(a, SetLock)] == [SetLock(True, pulse_s=5)]
    clock.advance(5)
    assert [a for a in ctl.handle(DoorTick()) if isinstance(a, SetLock)] == [SetLock(False)]  # still relocked


class TimedLock:
    times_pulses = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def set_energised(self, on: bool) -> None:
        self.calls.append(("set", on))

    def pulse(self, seconds: float) -> None:
        self.calls.append(("pulse", seconds))


class PlainLock(TimedLock):
    times_pulses = False


class Sink:
    overflowing = False

    def __init__(self) -> None:
        self.events: list[object] = []

    def append(self, event: object, topic: str) -> object:
        self.events.append(event)
        return event

    def append_many(self, items: list[tuple[object, str]]) -> list[object]:
        return [self.append(e, t) for e, t in items]

    def __len__(self) -> int:
        return len(self.events)


@pytest.mark.parametrize(("lock", "unlock"), [(TimedLock(), ("pulse", 2)), (PlainLock(), ("set", True))])
def test_timed_unlocks_go_to_a_board_that_times_pulses(lock: TimedLock, unlock: tuple[str, object]) -> None:
    ctl, members, clock = make_controller(unlock_s=2)
    door = DoorService(ctl, lock, EventEmitter(Sink(), Topics("store-1")))  # type: ignore[arg-type]
    door.handle(CodePresented(members.code("m1", clock.wall)))
    assert lock.calls == [unlock]
    clock.advance(2)
    door.handle(DoorTick())
    assert lock.calls[-1] == ("set", False)  # the agent relocks too


def test_lockdown_and_mode_override_are_handed_to_the_saver_when_they_change() -> None:
    ctl, _, clock = make_controller()
    saved: list[tuple[bool, str | None]] = []
    door = DoorService(ctl, PlainLock(), EventEmitter(Sink(), Topics("store-1")), on_persist=lambda *a: saved.append(a))  # type: ignore[arg-type]
    door.handle(
        CommandReceived(
            LockdownCommand(correlation_id="L1", issued_at=_in(clock, 0), expires_at=_in(clock, 30), active=True)
        )
    )
    door.handle(DoorTick())
    door.handle(
        CommandReceived(
            SetModeCommand(correlation_id="M1", issued_at=_in(clock, 0), expires_at=_in(clock, 30), mode="day")
        )
    )
    door.handle(
        CommandReceived(
            LockdownCommand(correlation_id="L2", issued_at=_in(clock, 0), expires_at=_in(clock, 30), active=False)
        )
    )
    assert saved == [(True, None), (True, "day"), (False, "day")]


def test_door_state_round_trips_and_an_unreadable_file_means_lockdown(tmp_path: Path) -> None:
    path = tmp_path / "door-state.json"
    assert load_door_state(path) == DoorMemory()
    save_door_state(path, True, "night")
    assert load_door_state(path) == DoorMemory(True, Mode.NIGHT)
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_bytes(b"\x00garbage")
    assert load_door_state(path) == DoorMemory(lockdown=True)


def _outbox_with_rows(path: Path, n: int) -> None:
    from tests.edge_agent.test_outbox import _denied  # type: ignore[attr-defined]

    box = Outbox(path)
    for i in range(n):
        box.append(_denied(i), "denied")
    box.close()


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_damaged_outbox_is_moved_aside_with_its_side_files(tmp_path: Path, how: str) -> None:
    path = tmp_path / "outbox.db"
    if how == "garbage":
        path.write_bytes(b"this is not a database" * 200)
        (tmp_path / "outbox.db-wal").write_bytes(b"junk")
    else:
        _outbox_with_rows(path, 2000)
        with open(path, "r+b") as fh:
            fh.truncate(path.stat().st_size // 2)
    assert damage(path) is not None
    box, damaged = open_outbox(path, max_rows=1000, now=lambda: 0.0)
    assert damaged is not None
    moved, why = damaged
    assert moved.name == "outbox.db.damaged-19700101T000000Z"
    assert moved.exists() and why
    if how == "garbage":
        assert (tmp_path / "outbox.db.damaged-19700101T000000Z-wal").read_bytes() == b"junk"
    assert len(box) == 0
    box.close()
    assert damage(path) is None
    again, none = open_outbox(path, max_rows=1000)
    assert none is None
    again.close()


def test_a_healthy_outbox_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    _outbox_with_rows(path, 3)
    box, damaged = open_outbox(path, max_rows=1000)
    assert damaged is None and len(box) == 3
    box.close()


def test_one_holder_per_data_directory(tmp_path: Path) -> None:
    first = agent_lock.acquire(tmp_path, ["/dev/ttyUSB0"])
    assert agent_lock.is_held(first.path)
    with pytest.raises(agent_lock.DataDirBusy, match=rf"pid \d+\) is running on data directory {tmp_path}"):
        agent_lock.acquire(tmp_path, [])
    assert agent_lock.read_holder(first.path)["ports"] == ["/dev/ttyUSB0"]  # the refused attempt kept the record
    first.release()
    assert not agent_lock.is_held(first.path)
    agent_lock.acquire(tmp_path, []).release()


def test_config_ports_lists_every_device_url() -> None:
    raw = {
        "lock": {"type": "modbus", "url": "/dev/a"},
        "inputs": {"url": "/dev/a"},
        "checkout": {"stations": [{"scale": {"url": "/dev/b"}}, {"screen": {"url": "/dev/c"}}]},
    }
    assert config_ports(raw) == ["/dev/a", "/dev/b", "/dev/c"]


def test_damaged_outbox_alarm_kind_is_in_the_contract() -> None:
    assert AlarmKind("outbox_damaged") is AlarmKind.OUTBOX_DAMAGED
    assert sqlite3.sqlite_version
