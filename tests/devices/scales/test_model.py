"""The simulated platter shared by the scale simulators, and unit conversion of the drivers."""

from __future__ import annotations

import pytest

from devices.scales.base import to_grams
from devices.scales.model import ScaleModel


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        """Start at t = 100 s."""
        self.now = 100.0

    def __call__(self) -> float:
        """Return the current time."""
        return self.now


@pytest.mark.parametrize(
    ("value", "unit", "grams"),
    [(1.234, "kg", 1234.0), (100.0, "g", 100.0), (1.0, "lb", 453.59237), (2.0, "oz", 56.69904625), (500.0, "mg", 0.5)],
)
def test_to_grams(value: float, unit: str, grams: float) -> None:
    assert to_grams(value, unit) == pytest.approx(grams)
    assert to_grams(value, unit.upper()) == pytest.approx(grams)


def test_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown weight unit"):
        to_grams(1.0, "stone")


def test_placed_load_moves_then_settles_quantised() -> None:
    clock = Clock()
    model = ScaleModel(capacity_g=15000, division_g=5, clock=clock)
    model.place(1233.0, settle_s=0.5)
    assert not model.snapshot().stable
    clock.now += 0.5
    snap = model.snapshot()
    assert snap.stable and snap.gross_g == 1235.0  # rounded to the 5 g division


def test_zero_only_when_stable_and_in_range() -> None:
    clock = Clock()
    model = ScaleModel(capacity_g=15000, division_g=5, clock=clock)
    model.place(100.0, settle_s=1.0)
    assert model.zero() == "unstable"
    assert model.zero(immediate=True) == "ok"
    model.place(1000.0, settle_s=0.0)
    assert model.zero() == "above_range"  # 2 % of 15 kg is 300 g
    model.place(-250.0 + 100.0, settle_s=0.0)
    assert model.zero() == "ok"


def test_tare_net_and_faults() -> None:
    clock = Clock()
    model = ScaleModel(clock=clock)
    model.place(400.0, settle_s=0.0)
    assert model.tare() == "ok"
    snap = model.snapshot()
    assert (snap.net_mode, snap.net_g) == (True, 0.0)
    assert model.clear_tare() == "ok"
    assert not model.snapshot().net_mode
    model.overload = True
    assert model.tare() == "overload"
    assert model.snapshot().overload
    model.overload = False
    model.unstable = True
    assert model.tare() == "unstable"
    assert model.preset_tare(20000.0) == "above_range"
