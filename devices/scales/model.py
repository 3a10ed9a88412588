"""The physics of a simulated scale, shared by the MT-SICS, Toledo 8217 and CAS simulators.

A ``ScaleModel`` knows the load on the platter, the zero point and the tare; a placed load is
"in motion" (jittering by a few divisions) for ``settle_s`` and then stable. Faults make it
never settle (``unstable``) or report overload (``overload``). Each protocol simulator only
encodes what the model says, so all three scales behave alike in tests.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

CommandResult = Literal["ok", "unstable", "above_range", "below_range", "overload"]


@dataclass(frozen=True)
class ScaleSnapshot:
    """What the scale shows at one instant, in grams."""

    gross_g: float
    tare_g: float
    stable: bool
    overload: bool
    underload: bool
    center_of_zero: bool

    @property
    def net_g(self) -> float:
        """Return gross minus tare."""
        return self.gross_g - self.tare_g

    @property
    def net_mode(self) -> bool:
        """Return whether a tare is active (the display shows net)."""
        return self.tare_g != 0


class ScaleModel:
    """A platter, a zero point and a tare, with motion and faults."""

    def __init__(
        self,
        *,
        capacity_g: float = 15000.0,
        division_g: float = 5.0,
        zero_range_pct: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ) -> None:
        """Create an empty, zeroed, stable scale."""
        self.capacity_g = capacity_g
        self.division_g = division_g
        self.zero_range_g = capacity_g * zero_range_pct / 100
        self.clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.load_g = 0.0
        self.zero_offset_g = 0.0
        self.tare_g = 0.0
        self._moving_until = 0.0
        self.unstable = False
        self.overload = False
        self.changes = 0

    def place(self, grams: float, settle_s: float = 0.3) -> None:
        """Put ``grams`` on the platter in total; it moves for ``settle_s`` seconds."""
        with self._lock:
            self.load_g = grams
            self._moving_until = self.clock() + settle_s
            self.changes += 1

    def _quantise(self, grams: float) -> float:
        divisions = round(grams / self.division_g)
        return round(divisions * self.division_g, 6)

    def snapshot(self) -> ScaleSnapshot:
        """Return what the scale shows now."""
        with self._lock:
            now = self.clock()
            stable = not self.unstable and now >= self._moving_until
            raw = self.load_g - self.zero_offset_g
            if not stable:
                raw += self._rng.randint(-4, 4) * self.division_g
            gross = self._quantise(raw)
            over = self.overload or gross > self.capacity_g + 9 * self.division_g
            under = gross < -self.zero_range_g * 10
            center = abs(raw) < self.division_g / 4
            return ScaleSnapshot(gross, self.tare_g, stable, over, under, center)

    def is_stable(self) -> bool:
        """Return whether the reading is stable now."""
        return self.snapshot().stable

    def zero(self, *, immediate: bool = False) -> CommandResult:
        """Capture zero (when stable, unless ``immediate``, and within the zero range); clears the tare."""
        snap = self.snapshot()
        if not snap.stable and not immediate:
            return "unstable"
        raw = self.load_g - self.zero_offset_g
        if raw > self.zero_range_g:
            return "above_range"
        if raw < -self.zero_range_g:
            return "below_range"
        with self._lock:
            self.zero_offset_g = self.load_g
            self.tare_g = 0.0
        return "ok"

    def tare(self, *, immediate: bool = False) -> CommandResult:
        """Take the gross weight as tare (when stable, unless ``immediate``)."""
        snap = self.snapshot()
        if not snap.stable and not immediate:
            return "unstable"
        if snap.overload:
            return "overload"
        if snap.gross_g < 0:
            return "below_range"
        with self._lock:
            self.tare_g = snap.gross_g
        return "ok"

    def preset_tare(self, grams: float) -> CommandResult:
        """Set a tare value directly (digital tare)."""
        if grams < 0 or grams > self.capacity_g:
            return "above_range" if grams > 0 else "below_range"
        with self._lock:
            self.tare_g = self._quantise(grams)
        return "ok"

    def clear_tare(self) -> CommandResult:
        """Clear the tare."""
        with self._lock:
            self.tare_g = 0.0
        return "ok"


class ScaleFaults:
    """Fault switches a scale simulator forwards to its ``model`` (``smartstore sim --fault``)."""

    model: ScaleModel

    @property
    def unstable(self) -> bool:
        """Return whether the scale never settles."""
        return self.model.unstable

    @unstable.setter
    def unstable(self, value: bool) -> None:
        self.model.unstable = value

    @property
    def overload(self) -> bool:
        """Return whether the scale reports overload."""
        return self.model.overload

    @overload.setter
    def overload(self, value: bool) -> None:
        self.model.overload = value


DEMO_WEIGHTS_G = (0.0, 250.0, 1235.0, 1235.0, 0.0, 500.0)


def demo(sim: ScaleFaults, step: int) -> None:
    """Play step ``step`` of the ``smartstore sim`` demo: weights come and go on the platter."""
    sim.model.place(DEMO_WEIGHTS_G[step % len(DEMO_WEIGHTS_G)], 0.4)
