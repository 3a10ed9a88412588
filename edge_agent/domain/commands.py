"""How long an operator command may be acted on (pure).

A command is good from ``issued_at`` until the earlier of its ``expires_at`` and ``issued_at``
plus the store's lifetime (default 120 s): a command with ``expires_at`` a year ahead lives
two minutes. One issued further in the future than the clock-skew allowance is refused. The
store remembers each correlation id for at least as long as the command could be accepted
(``keep_until``), so a redelivered or replayed command runs once, across restarts too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from contracts.messages import Command

Refusal = tuple[Literal["expired", "rejected"], str]


def deadline(cmd: Command, lifetime_s: float) -> datetime:
    """Return when ``cmd`` stops being acceptable."""
    return min(cmd.expires_at, cmd.issued_at + timedelta(seconds=lifetime_s))


def keep_until(cmd: Command, lifetime_s: float, skew_s: float) -> datetime:
    """Return how long the store must remember ``cmd``'s correlation id."""
    return deadline(cmd, lifetime_s) + timedelta(seconds=lifetime_s + skew_s)


def check_lifetime(cmd: Command, now: datetime, lifetime_s: float, skew_s: float) -> Refusal | None:
    """Return why ``cmd`` may not run at ``now`` (status and reason), or None if it may."""
    if cmd.issued_at > now + timedelta(seconds=skew_s):
        ahead = (cmd.issued_at - now).total_seconds()
        return "rejected", f"issued_at is {ahead:.0f} s in the future (clock skew allowance {skew_s:g} s)"
    end = deadline(cmd, lifetime_s)
    if end <= now:
        capped = " (lifetime cap from issued_at)" if end < cmd.expires_at else ""
        return "expired", f"command expired at {end.isoformat()}{capped}"
    return None


def refusal(cmd: Command, *, retained: bool, now: datetime, lifetime_s: float, skew_s: float) -> Refusal | None:
    """Return why ``cmd`` may not run (a retained copy never runs), or None if it may."""
    if retained:
        return "rejected", "retained commands are ignored; publish commands with retain=false"
    return check_lifetime(cmd, now, lifetime_s, skew_s)
