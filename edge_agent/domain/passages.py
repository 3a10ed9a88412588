"""Who is inside: passages the door senses, grants they spend, tailgaters they reveal (pure, see docs/door.md).

A passage sensor is either a beam *counter* (one pulse per passage, no direction) or a *pair* of
beams, outer and inner, whose breaking order gives the direction (``BEAM_TRANSITIONS``). Every
grant is a credit for one person in; a passage in with no credit left is an unidentified person
(tailgating). Nothing here does I/O; the door controller feeds it and applies what it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

PassageSensor = Literal["none", "counter", "pair"]
Direction = Literal["in", "out"]
Beams = tuple[bool, bool]  # (outer beam broken, inner beam broken)


@dataclass(frozen=True)
class PassageSensed:
    """Someone went through the doorway; ``direction`` is None from a counter, which cannot tell."""

    direction: Direction | None = None


class BeamState(StrEnum):
    """Where a person is between the two beams, as far as their breaking order tells."""

    IDLE = "idle"
    OUTER = "outer"  # outer broken first (coming in)
    BOTH_IN = "both_in"  # both broken, outer was first
    INNER_IN = "inner_in"  # outer cleared, inner still broken: about to be in
    INNER = "inner"  # inner broken first (going out)
    BOTH_OUT = "both_out"  # both broken, inner was first
    OUTER_OUT = "outer_out"  # inner cleared, outer still broken: about to be out
    BOTH = "both"  # both broke at once (between two polls): direction not known yet


_S = BeamState
_0, _O, _I, _B = (False, False), (True, False), (False, True), (True, True)

# Rule: every beam pattern in every state is here, with the state it leads to and the passage it
# completes; a person who turns back clears the beams the way they came and completes nothing.
BEAM_TRANSITIONS: dict[tuple[BeamState, Beams], tuple[BeamState, Direction | None]] = {
    (_S.IDLE, _0): (_S.IDLE, None),
    (_S.IDLE, _O): (_S.OUTER, None),
    (_S.IDLE, _I): (_S.INNER, None),
    (_S.IDLE, _B): (_S.BOTH, None),
    (_S.OUTER, _0): (_S.IDLE, None),
    (_S.OUTER, _O): (_S.OUTER, None),
    (_S.OUTER, _I): (_S.INNER_IN, None),
    (_S.OUTER, _B): (_S.BOTH_IN, None),
    (_S.BOTH_IN, _0): (_S.IDLE, "in"),
    (_S.BOTH_IN, _O): (_S.OUTER, None),
    (_S.BOTH_IN, _I): (_S.INNER_IN, None),
    (_S.BOTH_IN, _B): (_S.BOTH_IN, None),
    (_S.INNER_IN, _0): (_S.IDLE, "in"),
    (_S.INNER_IN, _O): (_S.OUTER, None),
    (_S.INNER_IN, _I): (_S.INNER_IN, None),
    (_S.INNER_IN, _B): (_S.BOTH_IN, None),
    (_S.INNER, _0): (_S.IDLE, None),
    (_S.INNER, _O): (_S.OUTER_OUT, None),
    (_S.INNER, _I): (_S.INNER, None),
    (_S.INNER, _B): (_S.BOTH_OUT, None),
    (_S.BOTH_OUT, _0): (_S.IDLE, "out"),
    (_S.BOTH_OUT, _O): (_S.OUTER_OUT, None),
    (_S.BOTH_OUT, _I): (_S.INNER, None),
    (_S.BOTH_OUT, _B): (_S.BOTH_OUT, None),
    (_S.OUTER_OUT, _0): (_S.IDLE, "out"),
    (_S.OUTER_OUT, _O): (_S.OUTER_OUT, None),
    (_S.OUTER_OUT, _I): (_S.INNER, None),
    (_S.OUTER_OUT, _B): (_S.BOTH_OUT, None),
    (_S.BOTH, _0): (_S.IDLE, None),  # broken and cleared together: no direction, not counted
    (_S.BOTH, _O): (_S.OUTER_OUT, None),  # the inner beam cleared first: leaving
    (_S.BOTH, _I): (_S.INNER_IN, None),  # the outer beam cleared first: coming in
    (_S.BOTH, _B): (_S.BOTH, None),
}


class BeamPair:
    """Turn outer/inner beam readings into passages in and out."""

    def __init__(self) -> None:
        """Start with nobody between the beams."""
        self.state = BeamState.IDLE

    def step(self, beams: Beams) -> Direction | None:
        """Take one reading; return the direction of the passage it completes, if any."""
        self.state, done = BEAM_TRANSITIONS[(self.state, beams)]
        return done


class BeamCounter:
    """Turn a counting beam's readings into passages: one per break (rising edge)."""

    def __init__(self) -> None:
        """Start with the beam clear."""
        self.broken = False

    def step(self, broken: bool) -> bool:
        """Take one reading; return whether it is a new passage."""
        new, self.broken = broken and not self.broken, broken
        return new


@dataclass(frozen=True)
class PassageOutcome:
    """What one passage did: the occupancy change and, for a tailgater, the opening's count."""

    occupancy_delta: int = 0
    identified: bool = False  # an entry that spent a grant
    tailgating: tuple[int, int] | None = None  # (passages in, grants) of the opening, when over


# Rule: how a counter's pulse is read depends only on why the door opened.
COUNTER_DIRECTION: dict[str, Direction | None] = {
    "grant": "in",
    "exit": "out",
    "day_mode": None,
    "forced": None,
    "unknown": None,
}


@dataclass
class PassageLedger:
    """Grants not yet walked through, this opening's tally, and the unidentified people inside.

    A grant is a credit for one entry. It lasts while the door is open in the opening it allowed,
    or until ``window_s`` after the grant if the door never opens, and ``grace_s`` after the
    door closes (the last person may clear the beams just after). Unspent credits then lapse.
    """

    sensor: PassageSensor = "none"
    grace_s: float = 2.0
    credits: int = 0
    staff_credits: int = 0  # of ``credits``: staff grants, whose entry is no shopper (staff.py)
    credit_until: float = -1e9
    door_open: bool = False
    closed_at: float = -1e9
    cause: str = "unknown"  # why the current (or last) opening happened
    opening_in: int = 0
    opening_grants: int = 0
    unidentified: int = 0

    def _lapse(self, mono: float) -> None:
        if not self.door_open and mono > self.credit_until:
            self.credits = self.staff_credits = 0

    def granted(self, mono: float, window_s: float, *, staff: bool = False) -> None:
        """Record a grant (a member's code, a remote unlock, a staff card) that lets one person in."""
        self._lapse(mono)
        self.credits += 1
        self.staff_credits += int(staff)
        self.credit_until = max(self.credit_until, mono + window_s + self.grace_s)
        if self.door_open:
            self.opening_grants += 1

    def opened(self, mono: float, cause: str) -> None:
        """Start an opening; the grants still good are this opening's."""
        self._lapse(mono)
        self.door_open, self.cause = True, cause
        self.opening_in, self.opening_grants = 0, self.credits

    def closed(self, mono: float) -> None:
        """End the opening; its credits last ``grace_s`` more."""
        if self.door_open:
            self.credit_until = mono + self.grace_s
            self.closed_at = mono
        self.door_open = False

    def direction(self, sensed: Direction | None) -> Direction | None:
        """Return the direction of a passage: the pair's, or for a counter the one the opening implies."""
        if self.sensor == "pair" or sensed is not None:
            return sensed
        return COUNTER_DIRECTION.get(self.cause)

    def passage(self, sensed: Direction | None, mono: float) -> PassageOutcome:
        """Count one passage: an entry spends a grant or is an unidentified person; an exit counts down.

        Beams broken while the door is shut (someone inside walking past them) are no passage.
        """
        self._lapse(mono)
        direction = self.direction(sensed) if self.door_open or mono <= self.closed_at + self.grace_s else None
        if direction == "out":
            return PassageOutcome(occupancy_delta=-1)
        if direction is None:
            return PassageOutcome()
        self.opening_in += 1
        if self.credits > 0:
            self.credits -= 1
            if self.staff_credits > 0:  # staff went in first: their entry is not counted
                self.staff_credits -= 1
                return PassageOutcome(occupancy_delta=0)
            return PassageOutcome(occupancy_delta=1, identified=True)
        self.unidentified += 1
        return PassageOutcome(occupancy_delta=1, tailgating=(self.opening_in, self.opening_grants))

    def bound(self, occupancy: int) -> None:
        """Keep the unidentified count within the people counted inside (nobody inside: nobody unidentified)."""
        self.unidentified = max(0, min(self.unidentified, occupancy))


def tailgating_detail(passages_in: int, grants: int, unidentified: int) -> str:
    """Return the alarm detail, e.g. "2 in on 1 grant: 1 unidentified inside"."""
    plural = "" if grants == 1 else "s"
    return f"{passages_in} in on {grants} grant{plural}: {unidentified} unidentified inside"
