"""The settle rule: a weight counts only after N consistent stable readings over a minimum time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.scales.settle import (
    Reading,
    ScaleError,
    SettleRule,
    WeightSettler,
    WeightStable,
    WeightUnstable,
)

RULE = SettleRule(readings=3, min_time_s=0.5, division_g=5.0, motion_timeout_s=7.0)


def run(readings: list[Reading], rule: SettleRule = RULE) -> list[object]:
    """Feed readings to a fresh settler and return every event."""
    settler = WeightSettler(rule)
    return [event for r in readings for event in settler.feed(r)]


def stable(at: float, grams: float, net: bool = False) -> Reading:
    """Return a stable reading."""
    return Reading(at, grams, stable=True, net=net)


def test_stable_flag_alone_is_not_enough() -> None:
    events = run([stable(0.0, 100.0), stable(0.1, 100.0)])
    assert not [e for e in events if isinstance(e, WeightStable)]


def test_three_readings_over_half_a_second_settle() -> None:
    events = run([stable(0.0, 100.0), stable(0.25, 100.0), stable(0.5, 100.0)])
    assert events == [WeightStable(100.0, False, 0.5, 3, 0.5)]


def test_enough_readings_but_too_little_time_wait_for_more() -> None:
    readings = [stable(i * 0.1, 100.0) for i in range(5)]  # 0.4 s span
    assert run(readings) == []
    events = run([*readings, stable(0.5, 100.0)])
    assert [type(e) for e in events] == [WeightStable]
    assert events[0].readings == 6  # type: ignore[attr-defined]


def test_readings_within_one_division_agree() -> None:
    events = run([stable(0.0, 100.0), stable(0.25, 105.0), stable(0.5, 100.0)])
    assert [type(e) for e in events] == [WeightStable]


def test_readings_more_than_one_division_apart_restart_the_window() -> None:
    events = run([stable(0.0, 100.0), stable(0.25, 110.0), stable(0.5, 110.0)])
    assert events == []
    events = run([stable(0.0, 100.0), stable(0.25, 110.0), stable(0.5, 110.0), stable(0.75, 110.0)])
    assert [(type(e), getattr(e, "grams", None)) for e in events] == [(WeightStable, 110.0)]


def test_spread_is_measured_across_the_whole_window() -> None:
    # each step is within one division of the previous one, but the drift is 2 divisions
    events = run([stable(0.0, 100.0), stable(0.25, 105.0), stable(0.5, 110.0)])
    assert events == []


def test_motion_resets_the_window_and_unsettles() -> None:
    settled = [stable(0.0, 100.0), stable(0.25, 100.0), stable(0.5, 100.0)]
    events = run([*settled, Reading(0.6, 130.0, stable=False)])
    assert [type(e) for e in events] == [WeightStable, WeightUnstable]
    assert events[1] == WeightUnstable(0.6, "motion")
    interrupted = run([stable(0.0, 100.0), stable(0.25, 100.0), Reading(0.3, 100.0), stable(0.5, 100.0)])
    assert interrupted == []


def test_same_weight_is_reported_once_and_again_after_motion() -> None:
    first = [stable(t / 4, 100.0) for t in range(8)]
    events = run([*first, Reading(2.1, None), *[stable(2.2 + t / 4, 100.0) for t in range(3)]])
    kinds = [type(e) for e in events]
    assert kinds == [WeightStable, WeightUnstable, WeightStable]


def test_a_stable_jump_is_a_change() -> None:
    events = run([stable(t / 4, 100.0) for t in range(3)] + [stable(0.75 + t / 4, 200.0) for t in range(3)])
    assert [type(e) for e in events] == [WeightStable, WeightUnstable, WeightStable]
    assert events[1] == WeightUnstable(0.75, "changed")
    assert events[2].grams == 200.0  # type: ignore[attr-defined]


def test_gross_and_net_readings_do_not_mix() -> None:
    events = run([stable(0.0, 0.0), stable(0.25, 0.0, net=True), stable(0.5, 0.0, net=True)])
    assert events == []


@pytest.mark.parametrize(
    ("error", "kind"), [("overload", "overload"), ("underload", "underload"), ("device", "device")]
)
def test_errors_are_reported_once_per_kind(error: str, kind: str) -> None:
    bad = [Reading(t / 10, error=error) for t in range(5)]  # type: ignore[arg-type]
    events = run(bad)
    assert [(type(e), getattr(e, "kind", None)) for e in events] == [(ScaleError, kind)]


def test_negative_stable_weight_is_an_error_unless_accepted() -> None:
    readings = [stable(t / 4, -10.0) for t in range(3)]
    assert [getattr(e, "kind", None) for e in run(readings)] == ["negative"]
    accepting = SettleRule(readings=3, min_time_s=0.5, division_g=5.0, accept_negative=True)
    assert [type(e) for e in run(readings, accepting)] == [WeightStable]


def test_error_unsettles_a_settled_weight() -> None:
    events = run([stable(t / 4, 100.0) for t in range(3)] + [Reading(1.0, error="overload")])
    assert [type(e) for e in events] == [WeightStable, WeightUnstable, ScaleError]


def test_motion_longer_than_the_timeout_is_an_error() -> None:
    rule = SettleRule(readings=3, min_time_s=0.5, division_g=5.0, motion_timeout_s=2.0)
    events = run([Reading(t * 0.5, 100.0 + t) for t in range(6)], rule)  # 0 .. 2.5 s of motion
    assert [getattr(e, "kind", None) for e in events] == ["motion_timeout"]


def test_reset_forgets_the_window() -> None:
    settler = WeightSettler(RULE)
    settler.feed(stable(0.0, 100.0))
    settler.feed(stable(0.25, 100.0))
    settler.reset()
    assert settler.feed(stable(0.5, 100.0)) == []
    assert settler.settled is None


@pytest.mark.parametrize(
    "kwargs", [{"readings": 0}, {"division_g": 0.0}, {"min_time_s": -1.0}, {"motion_timeout_s": 0.0}]
)
def test_impossible_rules_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SettleRule(**kwargs)  # type: ignore[arg-type]


readings_strategy = st.lists(
    st.builds(
        lambda dt, grams, is_stable, err: (dt, grams, is_stable, err),
        st.floats(0.0, 0.5),
        st.one_of(st.none(), st.floats(-50, 5000, allow_nan=False)),
        st.booleans(),
        st.sampled_from([None, None, None, "overload", "underload"]),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(readings_strategy)
def test_every_settled_weight_obeys_the_rule(items: list[tuple[float, float | None, bool, str | None]]) -> None:
    settler = WeightSettler(RULE)
    history: list[Reading] = []
    now = 0.0
    for dt, grams, is_stable, err in items:
        now += dt
        reading = Reading(now, grams, stable=is_stable, error=err)  # type: ignore[arg-type]
        history.append(reading)
        for event in settler.feed(reading):
            if not isinstance(event, WeightStable):
                continue
            window = history[-event.readings :]
            assert event.readings >= RULE.readings
            assert all(r.stable and r.error is None and r.grams is not None for r in window)
            values = [r.grams for r in window if r.grams is not None]
            assert max(values) - min(values) <= RULE.tolerance_g + 1e-6
            assert window[-1].at - window[0].at >= RULE.min_time_s - 1e-9
            assert event.grams >= 0
