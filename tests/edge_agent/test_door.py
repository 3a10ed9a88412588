"""Door state machine: every rule in edge_agent/domain/door.py, driven with a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.messages import (
    AccessDenied,
    AccessGranted,
    AlarmCleared,
    AlarmKind,
    AlarmRaised,
    DenyReason,
    DoorOpened,
    LockdownCommand,
    Mode,
    SetModeCommand,
    UnlockCommand,
)
from edge_agent.domain.access import AccessPolicy, TimeRange
from edge_agent.domain.actions import Emit, Feedback, Reply
from edge_agent.domain.door import (
    CodePresented,
    CommandReceived,
    DeviceStatusChanged,
    DoorController,
    DoorSensor,
    DoorTick,
    ExitPressed,
    SetLock,
)
from tests.edge_agent.helpers import FakeClock, Members, make_controller


def locks(actions: list[object]) -> list[bool]:
    return [a.energised for a in actions if isinstance(a, SetLock)]


def events(actions: list[object], cls: type) -> list:
    return [a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, cls)]


def replies(actions: list[object]) -> list:
    return [a.reply for a in actions if isinstance(a, Reply)]


def in_seconds(clock: FakeClock, s: float) -> datetime:
    return datetime.fromtimestamp(clock.wall + s, UTC)


def test_start_locks_and_never_unlocks() -> None:
    members, clock = Members(), FakeClock()
    from edge_agent.domain.access import AccessVerifier
    from edge_agent.domain.door import DoorConfig

    ctl = DoorController(
        DoorConfig(store_id="store-1", day_hours=TimeRange.parse("00:00-23:59")),
        AccessVerifier("store-1", members.trusted, AccessPolicy()),
        clock,
    )
    actions = ctl.start()
    assert locks(actions) == [False]
    assert ctl.mode is Mode.DAY  # day by schedule, and still locked: first person in opens it
    assert locks(ctl.handle(DoorTick())) == []


def test_valid_code_pulses_the_lock_then_relocks_after_unlock_time() -> None:
    ctl, members, clock = make_controller(unlock_s=5)
    actions = ctl.handle(CodePresented(members.code("m1", clock.wall)))
    assert locks(actions) == [True]
    assert events(actions, AccessGranted)[0].member_id == "m1"
    assert any(isinstance(a, Feedback) and a.granted for a in actions)
    clock.advance(4.9)
    assert locks(ctl.handle(DoorTick())) == []
    clock.advance(0.2)
    assert locks(ctl.handle(DoorTick())) == [False]


def test_same_code_opens_once() -> None:
    ctl, members, clock = make_controller()
    code = members.code("m1", clock.wall)
    assert locks(ctl.handle(CodePresented(code))) == [True]
    clock.advance(6)
    ctl.handle(DoorTick())
    second = ctl.handle(CodePresented(code))
    assert locks(second) == []
    assert events(second, AccessDenied)[0].reason is DenyReason.REPLAYED


def test_door_cycle_relocks_immediately_and_counts_occupancy() -> None:
    ctl, members, clock = make_controller()
    ctl.handle(DoorSensor(is_open=False))
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    clock.advance(1)
    opened = ctl.handle(DoorSensor(is_open=True))
    assert events(opened, DoorOpened)[0].cause == "grant"
    assert ctl.occupancy == 1
    assert locks(ctl.handle(DoorSensor(is_open=False))) == [False]


def test_occupancy_cap_refuses_and_exit_frees_a_place() -> None:
    ctl, members, clock = make_controller()  # cap 2
    ctl.handle(DoorSensor(is_open=False))
    for m in ("m1", "m2"):
        ctl.handle(CodePresented(members.code(m, clock.wall)))
        ctl.handle(DoorSensor(is_open=True))
        ctl.handle(DoorSensor(is_open=False))
    refused = ctl.handle(CodePresented(members.code("m3", clock.wall)))
    assert events(refused, AccessDenied)[0].reason is DenyReason.OCCUPANCY_FULL
    assert locks(refused) == []
    assert locks(ctl.handle(ExitPressed())) == [True]
    opened = ctl.handle(DoorSensor(is_open=True))
    assert events(opened, DoorOpened)[0].cause == "exit"
    ctl.handle(DoorSensor(is_open=False))
    assert ctl.occupancy == 1
    clock.advance(1)
    again = ctl.handle(CodePresented(members.code("m3", clock.wall + 15)))
    assert events(again, AccessGranted)


def _walk_in(ctl: DoorController, code: str) -> list[object]:
    granted = ctl.handle(CodePresented(code))
    ctl.handle(DoorSensor(is_open=True))
    ctl.handle(DoorSensor(is_open=False))
    return granted


def test_a_member_inside_cannot_let_a_second_person_in_with_their_phone() -> None:
    ctl, members, clock = make_controller(passback_s=120)
    ctl.handle(DoorSensor(is_open=False))
    assert events(_walk_in(ctl, members.code("m1", clock.wall)), AccessGranted)
    clock.advance(20)  # the phone goes back out under the door; the next window's code is fresh
    refused = ctl.handle(CodePresented(members.code("m1", clock.wall)))
    assert locks(refused) == []
    denied = events(refused, AccessDenied)[0]
    assert denied.reason is DenyReason.PASSBACK and "walked in 20 s ago" in denied.detail
    assert [a.message for a in refused if isinstance(a, Feedback)] == [
        "Already inside - each shopper scans their own code"
    ]
    clock.advance(101)  # past passback_s: refused no longer
    assert events(ctl.handle(CodePresented(members.code("m1", clock.wall))), AccessGranted)


def test_passback_ends_when_the_store_is_empty_and_needs_a_walk_in() -> None:
    ctl, members, clock = make_controller(passback_s=120)
    ctl.handle(DoorSensor(is_open=False))
    _walk_in(ctl, members.code("m1", clock.wall))
    ctl.handle(ExitPressed())  # m1 leaves: nobody inside to hand a phone out
    ctl.handle(DoorSensor(is_open=True))
    ctl.handle(DoorSensor(is_open=False))
    assert ctl.occupancy == 0
    clock.advance(16)
    assert events(ctl.handle(CodePresented(members.code("m1", clock.wall))), AccessGranted)
    # m2 is let in but never opens the door, while m1 is inside: m2 may try again.
    ctl.handle(DoorSensor(is_open=True))
    ctl.handle(DoorSensor(is_open=False))
    assert events(ctl.handle(CodePresented(members.code("m2", clock.wall))), AccessGranted)
    clock.advance(16)
    assert events(ctl.handle(CodePresented(members.code("m2", clock.wall))), AccessGranted)


def test_passback_can_be_turned_off() -> None:
    ctl, members, clock = make_controller(passback_s=0)
    ctl.handle(DoorSensor(is_open=False))
    _walk_in(ctl, members.code("m1", clock.wall))
    clock.advance(16)
    assert events(ctl.handle(CodePresented(members.code("m1", clock.wall))), AccessGranted)


def test_forced_door_raises_critical_alarm_and_clears_on_close() -> None:
    ctl, _, _clock = make_controller()
    ctl.handle(DoorSensor(is_open=False))
    actions = ctl.handle(DoorSensor(is_open=True))
    assert events(actions, DoorOpened)[0].cause == "forced"
    alarm = events(actions, AlarmRaised)[0]
    assert (alarm.alarm, alarm.severity) == (AlarmKind.DOOR_FORCED, "critical")
    assert events(ctl.handle(DoorSensor(is_open=False)), AlarmCleared)[0].alarm is AlarmKind.DOOR_FORCED


def test_exit_button_before_opening_is_not_forced() -> None:
    ctl, _, clock = make_controller()
    ctl.handle(DoorSensor(is_open=False))
    ctl.handle(ExitPressed())
    clock.advance(2)
    assert not events(ctl.handle(DoorSensor(is_open=True)), AlarmRaised)


def test_held_open_alarm_after_threshold() -> None:
    ctl, members, clock = make_controller(held_open_s=15)
    ctl.handle(DoorSensor(is_open=False))
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    ctl.handle(DoorSensor(is_open=True))
    clock.advance(14)
    assert not events(ctl.handle(DoorTick()), AlarmRaised)
    clock.advance(1.5)
    raised = events(ctl.handle(DoorTick()), AlarmRaised)
    assert raised[0].alarm is AlarmKind.DOOR_HELD_OPEN
    assert not events(ctl.handle(DoorTick()), AlarmRaised)  # raised once
    assert "door_held_open:main" in ctl.snapshot().alarms


def test_lockdown_refuses_codes_and_remote_unlock_but_exit_stays_free() -> None:
    ctl, members, clock = make_controller()
    cmd = LockdownCommand(
        correlation_id="L1", issued_at=in_seconds(clock, 0), expires_at=in_seconds(clock, 30), active=True
    )
    assert replies(ctl.handle(CommandReceived(cmd)))[0].status == "ok"
    denied = ctl.handle(CodePresented(members.code("m1", clock.wall)))
    assert events(denied, AccessDenied)[0].reason is DenyReason.LOCKDOWN
    assert locks(denied) == []
    unlock = UnlockCommand(correlation_id="U1", issued_at=in_seconds(clock, 0), expires_at=in_seconds(clock, 30))
    assert replies(ctl.handle(CommandReceived(unlock)))[0].status == "rejected"
    assert locks(ctl.handle(ExitPressed())) == [True]


@pytest.mark.parametrize(("retained", "expires_in", "status"), [(True, 30, "rejected"), (False, -1, "expired")])
def test_retained_or_expired_unlock_never_unlocks(retained: bool, expires_in: float, status: str) -> None:
    ctl, _, clock = make_controller()
    cmd = UnlockCommand(correlation_id="c1", issued_at=in_seconds(clock, 0), expires_at=in_seconds(clock, expires_in))
    actions = ctl.handle(CommandReceived(cmd, retained=retained))
    assert locks(actions) == []
    assert replies(actions)[0].status == status


def test_remote_unlock_once_per_correlation_id() -> None:
    ctl, _, clock = make_controller()
    cmd = UnlockCommand(
        correlation_id="c1", issued_at=in_seconds(clock, 0), expires_at=in_seconds(clock, 30), duration_s=2
    )
    first = ctl.handle(CommandReceived(cmd))
    assert locks(first) == [True]
    assert replies(first)[0].status == "ok"
    clock.advance(3)
    assert locks(ctl.handle(DoorTick())) == [False]
    again = ctl.handle(CommandReceived(cmd))  # QoS 1 redelivery
    assert locks(again) == []
    assert replies(again)[0].status == "ok"


def test_day_mode_first_person_in_then_night_relocks() -> None:
    policy = AccessPolicy(occupancy_cap=0)  # cap ignored by day
    ctl, _members, clock = make_controller(policy=policy)
    cmd = SetModeCommand(
        correlation_id="d1", issued_at=in_seconds(clock, 0), expires_at=in_seconds(clock, 30), mode="day"
    )
    assert locks(ctl.handle(CommandReceived(cmd))) == [True]  # operator: held open at once
    night = SetModeCommand(
        correlation_id="n1", issued_at=in_seconds(clock, 0), expires_at=in_seconds(clock, 30), mode="night"
    )
    assert locks(ctl.handle(CommandReceived(night))) == [False]
    auto = SetModeCommand(
        correlation_id="a1", issued_at=in_seconds(clock, 0), expires_at=in_seconds(clock, 30), mode="auto"
    )
    ctl.handle(CommandReceived(auto))
    assert ctl.mode is Mode.NIGHT  # no day hours configured


def test_schedule_day_needs_first_valid_code() -> None:
    members, clock = Members(), FakeClock()
    ctl, _, _ = make_controller(members, clock, day_hours=TimeRange.parse("00:00-23:59"))
    assert ctl.mode is Mode.DAY
    assert locks(ctl.handle(DoorTick())) == []
    assert locks(ctl.handle(CodePresented("garbage"))) == []
    assert locks(ctl.handle(CodePresented(members.code("staff", clock.wall)))) == [True]
    clock.advance(60)
    assert locks(ctl.handle(DoorTick())) == []  # held all day, no relock timer


def test_outside_hours_and_revoked() -> None:
    policy = AccessPolicy(tier_hours={"basic": (TimeRange.parse("22:00-23:00"),)}, occupancy_cap=5)
    ctl, members, clock = make_controller(policy=policy)
    denied = ctl.handle(CodePresented(members.code("m1", clock.wall, tier="basic")))
    assert events(denied, AccessDenied)[0].reason is DenyReason.OUTSIDE_HOURS
    ctl.verifier.revocations.replace(["m2"], version=3)
    revoked = ctl.handle(CodePresented(members.code("m2", clock.wall)))
    assert events(revoked, AccessDenied)[0].reason is DenyReason.REVOKED
    assert ctl.verifier.revocations.version == 3
    ctl.verifier.revocations.replace([], version=2)  # older list ignored
    assert "m2" in ctl.verifier.revocations.member_ids


@pytest.mark.parametrize(("mode", "expected"), [("safe", [True]), ("secure", [])])
def test_fail_mode_when_door_inputs_are_lost(mode: str, expected: list[bool]) -> None:
    ctl, _, _ = make_controller(fail_mode=mode)
    assert locks(ctl.handle(DeviceStatusChanged("io", online=False, role="inputs"))) == []  # never supervised yet
    ctl.handle(DeviceStatusChanged("io", online=True, role="inputs"))
    lost = ctl.handle(DeviceStatusChanged("io", online=False, role="inputs"))
    assert locks(lost) == expected
    assert events(lost, AlarmRaised)[0].severity == "critical"
    back = ctl.handle(DeviceStatusChanged("io", online=True, role="inputs"))
    assert locks(back) == ([False] if expected else [])
    assert events(back, AlarmCleared)


def test_handle_before_start_is_an_error() -> None:
    members, clock = Members(), FakeClock()
    from edge_agent.domain.access import AccessVerifier
    from edge_agent.domain.door import DoorConfig

    ctl = DoorController(
        DoorConfig(store_id="store-1"), AccessVerifier("store-1", members.trusted, AccessPolicy()), clock
    )
    with pytest.raises(RuntimeError):
        ctl.handle(DoorTick())


_inputs = st.one_of(
    st.just(DoorTick()),
    st.just(ExitPressed()),
    st.builds(DoorSensor, st.booleans()),
    st.builds(CodePresented, st.text(max_size=20)),
    st.builds(
        DeviceStatusChanged,
        st.sampled_from(["io", "lock"]),
        st.booleans(),
        st.sampled_from(["inputs", "lock", "other"]),
    ),
    st.floats(min_value=0, max_value=20),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_inputs, max_size=40))
def test_random_inputs_never_unlock_without_a_cause(seq: list[object]) -> None:
    """Without a valid code, command or fail-safe, the only unlock is an exit request."""
    ctl, _, clock = make_controller(fail_mode="secure")
    energised = False
    for item in seq:
        if isinstance(item, float):
            clock.advance(item)
            continue
        actions = ctl.handle(item)  # type: ignore[arg-type]
        for on in locks(actions):
            if on:
                assert isinstance(item, ExitPressed)
            energised = on
        assert energised == (ctl.lock.value != "locked")


def test_time_range_end_of_day_and_wrapping() -> None:
    evening = TimeRange.parse("22:00-24:00")
    assert evening.contains(time(23, 59)) and evening.contains(time(22, 0))
    assert not evening.contains(time(21, 59)) and not evening.contains(time(0, 0))
    night = TimeRange.parse(" 22:00 - 07:00 ")
    assert night.contains(time(2, 0)) and not night.contains(time(12, 0))
    assert TimeRange.parse("00:00-24:00").contains(time(12, 0))
    with pytest.raises(ValueError, match="22:00-07:00"):
        TimeRange.parse("22:00-25:00")


def test_three_members_codes_agreeing_the_clock_is_off_raise_clock_skew_and_a_good_code_clears_it() -> None:
    ctl, members, clock = make_controller()
    phones_now = clock.wall + 3 * 3600 + 5 * 60  # the store came up after a power cut 3 h 5 min behind
    first = ctl.handle(CodePresented(members.code("m1", phones_now)))
    assert events(first, AccessDenied)[0].reason is DenyReason.EXPIRED
    assert not events(first, AlarmRaised)
    again = ctl.handle(CodePresented(members.code("m1", phones_now + 15)))  # one member twice: their phone?
    assert not events(again, AlarmRaised)
    ctl.handle(CodePresented(members.code("m2", phones_now)))
    raised = events(ctl.handle(CodePresented(members.code("m3", phones_now + 20))), AlarmRaised)
    assert [(a.alarm, a.severity) for a in raised] == [(AlarmKind.CLOCK_SKEW, "critical")]
    assert "3 h 5 min behind 3 members' phones" in raised[0].detail
    assert not events(ctl.handle(CodePresented(members.code("m4", phones_now))), AlarmRaised)  # raised once
    clock.advance(3 * 3600 + 5 * 60)  # NTP fixed it
    fixed = ctl.handle(CodePresented(members.code("m5", clock.wall)))
    assert events(fixed, AccessGranted) and [a.alarm for a in events(fixed, AlarmCleared)] == [AlarmKind.CLOCK_SKEW]


def test_phones_that_disagree_or_are_within_a_window_do_not_blame_the_store_clock() -> None:
    ctl, members, clock = make_controller()
    seen = []
    for member, at in (("m1", clock.wall + 600), ("m2", clock.wall - 600), ("m3", clock.wall + 900)):
        seen += ctl.handle(CodePresented(members.code(member, at)))  # two late, one early: the phones' fault
    assert len(events(seen, AccessDenied)) == 3 and not events(seen, AlarmRaised)
    clock.advance(601)  # ten minutes later the early phone is forgotten; two more late ones are needed
    seen = ctl.handle(CodePresented(members.code("m4", clock.wall + 600)))
    assert not events(seen, AlarmRaised)
    assert events(ctl.handle(CodePresented(members.code("m6", clock.wall + 16))), AccessGranted)  # +1 window: fine
