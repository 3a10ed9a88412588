"""When a scale weight may be trusted: the settle rule shared by every scale protocol.

Pure (stdlib only, no clock of its own): drivers feed ``Reading`` objects stamped with their
own monotonic time, and the checkout flow can feed recorded readings in tests. A weight is
accepted only when the device says it is stable **and** ``readings`` consecutive stable readings
spanning at least ``min_time_s`` agree within ``tolerance_divisions`` display divisions. The
device's stable flag alone is never enough (device-protocols.md §1.5).

Events:
    ``WeightStable``: a settled weight, in grams (once per settle; a new settle after motion
    is reported again even when the value is the same).
    ``WeightUnstable``: a settled weight is no longer valid (motion, or a stable jump).
    ``ScaleError``: overload, underload, negative weight, motion longer than the timeout, or a
    device error; reported once per change of error kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal["overload", "underload", "negative", "motion_timeout", "device", "offline"]

_EPSILON = 1e-9


@dataclass(frozen=True)
class SettleRule:
    """How many consistent readings, over how long, make a weight trustworthy."""

    readings: int = 3
    min_time_s: float = 0.5
    division_g: float = 1.0
    tolerance_divisions: float = 1.0
    motion_timeout_s: float = 7.0
    accept_negative: bool = False

    def __post_init__(self) -> None:
        """Reject rules that could never settle or would settle on one reading by accident."""
        if self.readings < 1:
            raise ValueError("readings must be >= 1")
        if self.division_g <= 0:
            raise ValueError("division_g must be > 0")
        if self.min_time_s < 0 or self.motion_timeout_s <= 0:
            raise ValueError("times must be positive")

    @property
    def tolerance_g(self) -> float:
        """Return the largest spread (grams) that still counts as one weight."""
        return self.division_g * self.tolerance_divisions


@dataclass(frozen=True)
class Reading:
    """One reading as a driver decoded it (grams, already converted from the scale's unit)."""

    at: float
    grams: float | None = None
    stable: bool = False
    net: bool = False
    error: ErrorKind | None = None
    detail: str = ""


@dataclass(frozen=True)
class WeightStable:
    """A weight that passed the settle rule."""

    grams: float
    net: bool
    at: float
    readings: int
    span_s: float


@dataclass(frozen=True)
class WeightUnstable:
    """The last settled weight is no longer valid."""

    at: float
    reason: Literal["motion", "changed", "error"]


@dataclass(frozen=True)
class ScaleError:
    """The scale cannot give a weight now."""

    kind: ErrorKind
    at: float
    detail: str = ""


SettleEvent = WeightStable | WeightUnstable | ScaleError


class WeightSettler:
    """Turn a stream of readings into settle events following a ``SettleRule``."""

    def __init__(self, rule: SettleRule | None = None) -> None:
        """Start with no readings and nothing settled."""
        self.rule = rule or SettleRule()
        self._window: _Window | None = None
        self._settled: WeightStable | None = None
        self._error: ErrorKind | None = None
        self._motion_since: float | None = None

    @property
    def settled(self) -> WeightStable | None:
        """Return the weight currently settled, if any."""
        return self._settled

    def reset(self) -> None:
        """Forget everything (after a reconnect, a zero or a tare)."""
        self._window = None
        self._settled = None
        self._error = None
        self._motion_since = None

    def feed(self, reading: Reading) -> list[SettleEvent]:
        """Consume one reading and return the events it causes."""
        events: list[SettleEvent] = []
        error = reading.error
        if (
            error is None
            and reading.stable
            and reading.grams is not None
            and reading.grams < -_EPSILON
            and not self.rule.accept_negative
        ):
            error = "negative"
        if error is not None:
            self._window = None
            self._motion_since = None
            self._unsettle(reading.at, "error", events)
            if error != self._error:
                self._error = error
                events.append(ScaleError(error, reading.at, reading.detail))
            return events
        self._error = None
        if not reading.stable or reading.grams is None:
            self._window = None
            self._unsettle(reading.at, "motion", events)
            if self._motion_since is None:
                self._motion_since = reading.at
            elif reading.at - self._motion_since >= self.rule.motion_timeout_s:
                self._error = "motion_timeout"
                self._motion_since = reading.at  # report again after another full timeout
                events.append(ScaleError("motion_timeout", reading.at, "weight not stable in time"))
            return events
        self._motion_since = None
        self._accept_stable(reading, events)
        return events

    def _unsettle(self, at: float, reason: Literal["motion", "changed", "error"], events: list[SettleEvent]) -> None:
        if self._settled is not None:
            self._settled = None
            events.append(WeightUnstable(at, reason))

    def _accept_stable(self, reading: Reading, events: list[SettleEvent]) -> None:
        grams = reading.grams
        assert grams is not None
        tolerance = self.rule.tolerance_g + _EPSILON
        settled = self._settled
        if settled is not None:
            if abs(grams - settled.grams) <= tolerance and reading.net == settled.net:
                return  # the same weight is still on the platter
            self._unsettle(reading.at, "changed", events)
        window = self._window
        if window is not None and (
            max(window.high, grams) - min(window.low, grams) > tolerance or window.net != reading.net
        ):
            window = None
        if window is None:
            window = self._window = _Window(reading.at, reading.at, 0, grams, grams, reading.net)
        window.count += 1
        window.last_at = reading.at
        window.low = min(window.low, grams)
        window.high = max(window.high, grams)
        span = window.last_at - window.first_at
        if window.count >= self.rule.readings and span + _EPSILON >= self.rule.min_time_s:
            self._settled = WeightStable(grams, reading.net, reading.at, window.count, span)
            self._window = None
            events.append(self._settled)


@dataclass
class _Window:
    """Consecutive stable readings that agree so far."""

    first_at: float
    last_at: float
    count: int
    low: float
    high: float
    net: bool
