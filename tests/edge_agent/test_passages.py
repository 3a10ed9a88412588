"""Who is inside: beam decoding, grants spent by passages, tailgating and the unidentified count (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.messages import (
    AlarmCleared,
    AlarmKind,
    AlarmRaised,
    DoorState,
    Mode,
    ResetOccupancyCommand,
    SetModeCommand,
    UnlockCommand,
)
from devices.modbus.simulator import BEAM_INNER, BEAM_OUTER, ModbusSimulator
from edge_agent.config import InputsConfig
from edge_agent.domain.door import (
    CodePresented,
    CommandReceived,
    DoorController,
    DoorSensor,
    DoorTick,
    ExitPressed,
)
from edge_agent.domain.passages import (
    BEAM_TRANSITIONS,
    BeamCounter,
    BeamPair,
    BeamState,
    PassageSensed,
)
from edge_agent.hardware import InputMapper
from tests.edge_agent.helpers import FakeClock, Members, make_controller
from tests.edge_agent.test_door import events, in_seconds, replies

OUT, INNER, BOTH, NONE = (True, False), (False, True), (True, True), (False, False)


def when(clock: FakeClock) -> dict[str, datetime]:
    return {"issued_at": in_seconds(clock, 0), "expires_at": in_seconds(clock, 60)}


def walk(pair: BeamPair, readings: list[tuple[bool, bool]]) -> list[str]:
    return [d for r in readings if (d := pair.step(r)) is not None]


# ------------------------------------------------------------------------ beam decoding


def test_every_beam_pattern_in_every_state_is_in_the_table() -> None:
    patterns = list(itertools.product([False, True], repeat=2))
    assert set(BEAM_TRANSITIONS) == {(s, p) for s in BeamState for p in patterns}
    assert all(new is BeamState.IDLE for (_, p), (new, done) in BEAM_TRANSITIONS.items() if done is not None)


@pytest.mark.parametrize(
    ("readings", "passages"),
    [
        ([OUT, BOTH, INNER, NONE], ["in"]),
        ([INNER, BOTH, OUT, NONE], ["out"]),
        ([OUT, BOTH, OUT, NONE], []),  # stepped in, turned back
        ([OUT, INNER, NONE], ["in"]),  # the overlap fell between two polls
        ([OUT, BOTH, NONE], ["in"]),  # both cleared between two polls
        ([BOTH, INNER, NONE], ["in"]),  # both broke between two polls; the outer cleared first
        ([BOTH, OUT, NONE], ["out"]),
        ([BOTH, NONE], []),  # no order seen at all: not counted
        ([OUT, BOTH, INNER, NONE, INNER, BOTH, OUT, NONE], ["in", "out"]),
    ],
)
def test_the_order_the_beams_break_gives_the_direction(readings: list[tuple[bool, bool]], passages: list[str]) -> None:
    assert walk(BeamPair(), readings) == passages


def test_a_counting_beam_counts_each_break_once() -> None:
    counter = BeamCounter()
    assert [counter.step(b) for b in (False, True, True, False, True, False)] == [
        False,
        True,
        False,
        False,
        True,
        False,
    ]


# ------------------------------------------------------------------ counting at the door


def pair_door(**config: Any) -> tuple[DoorController, Members, FakeClock]:
    ctl, members, clock = make_controller(passage_sensor="pair", **config)
    ctl.handle(DoorSensor(is_open=False))
    return ctl, members, clock


def alarms(actions: Sequence[object]) -> list[AlarmRaised]:
    return [a for a in events(list(actions), AlarmRaised) if a.alarm is AlarmKind.TAILGATING]


def opening(ctl: DoorController, clock: FakeClock, *passages: str | None) -> list[object]:
    """Open the door, let ``passages`` through one second apart, close it; return every action."""
    out: list[object] = list(ctl.handle(DoorSensor(is_open=True)))
    for direction in passages:
        clock.advance(1)
        out += ctl.handle(PassageSensed(direction))  # type: ignore[arg-type]
    clock.advance(1)
    return out + ctl.handle(DoorSensor(is_open=False))


def test_one_grant_one_person_counts_one_and_raises_nothing() -> None:
    ctl, members, clock = pair_door()
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    assert alarms(opening(ctl, clock, "in")) == []
    assert (ctl.occupancy, ctl.snapshot().unidentified) == (1, 0)


def test_two_people_on_one_grant_raise_tailgating_with_the_count() -> None:
    ctl, members, clock = pair_door()
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    raised = alarms(opening(ctl, clock, "in", "in"))
    assert [(a.source, a.severity, a.detail) for a in raised] == [
        ("main", "critical", "2 in on 1 grant: 1 unidentified inside")
    ]
    state = ctl.snapshot()
    assert (state.occupancy, state.unidentified) == (2, 1)
    assert "tailgating:main" in state.alarms


def test_each_further_tailgater_raises_again_with_the_new_count() -> None:
    ctl, members, clock = pair_door(passback_s=0)
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    raised = alarms(opening(ctl, clock, "in", "in", "in"))
    assert [a.detail for a in raised] == [
        "2 in on 1 grant: 1 unidentified inside",
        "3 in on 1 grant: 2 unidentified inside",
    ]
    assert ctl.snapshot().unidentified == 2


def test_one_leaving_while_another_enters_on_a_grant_is_no_tailgating() -> None:
    ctl, members, clock = pair_door()
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    opening(ctl, clock, "in")
    clock.advance(5)
    ctl.handle(CodePresented(members.code("m2", clock.wall)))
    assert alarms(opening(ctl, clock, "out", "in")) == []
    assert (ctl.occupancy, ctl.snapshot().unidentified) == (1, 0)


def test_a_door_held_open_after_a_grant_lets_nobody_in_unseen() -> None:
    ctl, members, clock = pair_door(held_open_s=5)
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    ctl.handle(DoorSensor(is_open=True))
    ctl.handle(PassageSensed("in"))
    clock.advance(10)
    held = ctl.handle(DoorTick())
    assert [a.alarm for a in events(held, AlarmRaised)] == [AlarmKind.DOOR_HELD_OPEN]
    raised = alarms(ctl.handle(PassageSensed("in")))
    assert [a.detail for a in raised] == ["2 in on 1 grant: 1 unidentified inside"]
    assert ctl.occupancy == 2


def test_exit_button_then_an_entry_from_outside_counts_an_entry() -> None:
    ctl, members, clock = pair_door()
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    opening(ctl, clock, "in")
    clock.advance(30)
    ctl.handle(ExitPressed())
    raised = alarms(opening(ctl, clock, "in"))
    assert [a.detail for a in raised] == ["1 in on 0 grants: 1 unidentified inside"]
    assert (ctl.occupancy, ctl.snapshot().unidentified) == (2, 1)


def test_a_grant_nobody_used_lapses_and_cannot_cover_a_later_entry() -> None:
    ctl, members, clock = pair_door(unlock_s=5)
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    clock.advance(10)
    ctl.handle(DoorTick())  # relocked, nobody came
    ctl.handle(ExitPressed())
    assert len(alarms(opening(ctl, clock, "in"))) == 1


def test_a_passage_just_after_the_door_closed_still_belongs_to_its_opening() -> None:
    ctl, members, clock = pair_door()
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    opening(ctl, clock)
    clock.advance(1)  # the shopper clears the beams just after the door shut behind them
    assert alarms(ctl.handle(PassageSensed("in"))) == []
    assert ctl.occupancy == 1


def test_two_grants_in_one_opening_cover_two_people() -> None:
    ctl, members, clock = pair_door()
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    ctl.handle(DoorSensor(is_open=True))
    ctl.handle(PassageSensed("in"))
    ctl.handle(CodePresented(members.code("m2", clock.wall)))  # scanned while the door was open
    assert alarms(ctl.handle(PassageSensed("in"))) == []
    assert alarms(ctl.handle(PassageSensed("in"))) != []  # a third person was not covered
    assert ctl.snapshot().unidentified == 1


def test_a_remote_unlock_is_a_grant_for_one_person() -> None:
    ctl, _, clock = pair_door()
    cmd = UnlockCommand(
        correlation_id="op-1", issued_at=in_seconds(clock, 0), expires_at=in_seconds(clock, 60), duration_s=5
    )
    assert replies(ctl.handle(CommandReceived(cmd)))[0].status == "ok"
    raised = alarms(opening(ctl, clock, "in", "in"))
    assert [a.detail for a in raised] == ["2 in on 1 grant: 1 unidentified inside"]


def test_the_alarm_clears_when_nobody_unidentified_can_be_left_inside() -> None:
    ctl, members, clock = pair_door()
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    opening(ctl, clock, "in", "in")
    clock.advance(30)
    ctl.handle(ExitPressed())
    first = opening(ctl, clock, "out")
    assert events(first, AlarmCleared) == []  # one of two left: the tailgater may still be inside
    assert ctl.snapshot().unidentified == 1
    clock.advance(30)
    ctl.handle(ExitPressed())
    second = opening(ctl, clock, "out")
    assert [(c.alarm, c.source) for c in events(second, AlarmCleared)] == [(AlarmKind.TAILGATING, "main")]
    assert (ctl.occupancy, ctl.snapshot().unidentified) == (0, 0)


def test_a_head_count_bounds_the_unidentified_count() -> None:
    ctl, members, clock = pair_door()
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    opening(ctl, clock, "in", "in")
    reset = ctl.handle(CommandReceived(ResetOccupancyCommand(correlation_id="hc-1", count=0, **when(clock))))
    assert [c.alarm for c in events(reset, AlarmCleared)] == [AlarmKind.TAILGATING]
    assert ctl.snapshot().unidentified == 0


def test_passages_by_day_count_nothing() -> None:
    ctl, _, clock = pair_door()
    ctl.handle(CommandReceived(SetModeCommand(correlation_id="d-1", mode="day", **when(clock))))
    assert ctl.mode is Mode.DAY
    assert alarms(opening(ctl, clock, "in", "in")) == []
    assert ctl.occupancy == 0


def test_a_counter_reads_its_pulses_by_why_the_door_opened() -> None:
    ctl, members, clock = make_controller(passage_sensor="counter")
    ctl.handle(DoorSensor(is_open=False))
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    raised = alarms(opening(ctl, clock, None, None))
    assert [a.detail for a in raised] == ["2 in on 1 grant: 1 unidentified inside"]
    clock.advance(30)
    ctl.handle(ExitPressed())
    opening(ctl, clock, None)
    assert ctl.occupancy == 1  # a counter cannot tell a leaver from someone coming in on the exit button


def test_without_a_passage_sensor_the_door_contact_counts_openings_as_before() -> None:
    ctl, members, clock = make_controller()
    ctl.handle(DoorSensor(is_open=False))
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    assert alarms(opening(ctl, clock, "in", "in")) == []  # stray passages are ignored: nothing to count them
    assert (ctl.occupancy, ctl.snapshot().unidentified) == (1, 0)
    clock.advance(30)
    ctl.handle(ExitPressed())
    opening(ctl, clock)
    assert ctl.occupancy == 0  # an exit opening is an exit, whoever came through


def test_old_door_states_without_the_unidentified_count_still_parse() -> None:
    old = '{"door_id":"main","mode":"night","lockdown":false,"lock":"locked","door":"closed",'
    old += '"occupancy":1,"occupancy_cap":4,"alarms":[],"ts":"2026-01-01T00:00:00Z"}'
    assert DoorState.model_validate_json(old).unidentified == 0


# ------------------------------------------------------------------ config, mapper, simulator


def test_inputs_config_names_the_passage_sensor() -> None:
    assert InputsConfig(url="x").passage_sensor == "none"
    assert InputsConfig(url="x", beam_input=2).passage_sensor == "counter"
    assert InputsConfig(url="x", beam_outer_input=2, beam_inner_input=3).passage_sensor == "pair"
    for bad, why in [
        ({"beam_outer_input": 2}, "go together"),
        ({"beam_input": 4, "beam_outer_input": 2, "beam_inner_input": 3}, "not both"),
        ({"beam_outer_input": 1, "beam_inner_input": 3}, "used once"),
    ]:
        with pytest.raises(ValidationError, match=why):
            InputsConfig(url="x", **bad)


def test_the_mapper_turns_beam_bits_into_passages_after_the_door_contact() -> None:
    seen: list[object] = []
    mapper = InputMapper.for_inputs(seen.append, InputsConfig(url="x", beam_outer_input=2, beam_inner_input=3))
    assert mapper.count == 4
    for bits in ["0000", "1000", "1010", "1011", "1001", "1000"]:
        mapper(tuple(c == "1" for c in bits))
    assert seen == [DoorSensor(False), DoorSensor(True), PassageSensed("in")]


def test_the_simulator_scripts_a_passage_in_the_right_order_and_timing() -> None:
    now = [100.0]
    sim = ModbusSimulator(clock=lambda: now[0])
    sim.passage("in", step_s=0.1)
    seen: list[tuple[bool, bool]] = []
    for _ in range(60):
        now[0] += 0.01
        sim.poll(now[0])
        reading = (sim.inputs[BEAM_OUTER], sim.inputs[BEAM_INNER])
        if not seen or seen[-1] != reading:
            seen.append(reading)
    assert seen == [OUT, BOTH, INNER, NONE]
    assert sim.wait_script(0)
    assert walk(BeamPair(), seen) == ["in"]


def test_the_simulator_scripts_a_tailgater_as_one_opening() -> None:
    now = [0.0]
    sim = ModbusSimulator(clock=lambda: now[0])
    sim.tailgate(1)
    seen: list[object] = []
    mapper = InputMapper.for_inputs(seen.append, InputsConfig(url="x", beam_outer_input=2, beam_inner_input=3))
    while sim.script:
        now[0] += 0.05  # the driver's poll interval
        sim.poll(now[0])
        mapper(tuple(sim.inputs))
    assert seen == [
        DoorSensor(False),
        DoorSensor(True),
        PassageSensed("in"),
        PassageSensed("in"),
        DoorSensor(False),
    ]


def test_beams_broken_while_the_door_is_shut_are_no_passage() -> None:
    ctl, members, clock = pair_door()
    assert alarms(ctl.handle(PassageSensed("in"))) == []  # before any opening
    ctl.handle(CodePresented(members.code("m1", clock.wall)))
    opening(ctl, clock, "in")
    clock.advance(10)
    assert alarms(ctl.handle(PassageSensed("in"))) == []  # a shopper inside walking past the beams
    assert ctl.occupancy == 1
