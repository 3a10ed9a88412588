"""Counters the services keep for the demo summary and operators."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

DECISION_BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class Histogram:
    """Cumulative-free bucket counts of durations (exported as a Prometheus histogram)."""

    bounds: tuple[float, ...] = DECISION_BOUNDS_S
    counts: list[int] = field(default_factory=lambda: [0] * (len(DECISION_BOUNDS_S) + 1))
    total_s: float = 0.0

    def observe(self, seconds: float) -> None:
        """Count one duration in its bucket (the last bucket is +Inf)."""
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.total_s += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """Return (upper bound, count of durations up to it) pairs, ending with +Inf."""
        out, running = [], 0
        for bound, count in zip([*map(str, self.bounds), "+Inf"], self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


@dataclass
class AgentStats:
    """Counters for the demo summary and operators."""

    granted: int = 0
    staff_entries: int = 0  # of ``granted``: staff (a card or PIN), not shoppers
    denied: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    bad_commands: int = 0
    bad_sync: int = 0
    downlink_refused: dict[str, int] = field(default_factory=dict)  # by contracts.signing.RefusalReason
    commands_refused: dict[str, int] = field(default_factory=dict)  # by reply status (or "duplicate")
    decision_s: Histogram = field(default_factory=Histogram)  # a code presented at the door -> lock and feedback
