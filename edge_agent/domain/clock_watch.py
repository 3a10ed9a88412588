"""Blame the store's clock when several members' codes agree it is off (pure, see docs/door.md)."""

from __future__ import annotations

from contracts.member_code import WINDOW_S

CLOCK_SKEW_MEMBERS = 3  # members whose codes must agree before the store's clock is blamed
CLOCK_SKEW_WITHIN_S = 600.0


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"


def clock_skew(off_window: dict[str, tuple[float, int]], member_id: str, offset: int, mono: float) -> str | None:
    """Note a code ``offset`` windows off; return the alarm detail when the store's clock is to blame.

    A Pi has no battery clock: after a power cut without network it can come up hours off, and
    then every code is "expired". One phone with a wrong clock is that member's problem; three
    members' phones agreeing (same direction, more than the ±1 window the check allows) in ten
    minutes point at the store. Only an alarm: the store never adopts a time from codes.
    """
    for member, (t, _) in list(off_window.items()):
        if mono - t >= CLOCK_SKEW_WITHIN_S:
            del off_window[member]
    off_window[member_id] = (mono, offset)
    offsets = sorted(o for _, o in off_window.values())
    if len(offsets) < CLOCK_SKEW_MEMBERS or not (offsets[0] > 1 or offsets[-1] < -1):
        return None
    seconds = offsets[len(offsets) // 2] * WINDOW_S  # a code from the phones' future: the store is behind
    return (
        f"the store's clock looks {_duration(abs(seconds))} {'behind' if seconds > 0 else 'ahead of'} "
        f"{len(offsets)} members' phones; codes are refused as expired: check NTP and the clock"
    )
