"""Actions the door and the checkout stations both return, and the alarm book both keep.

Everything here is pure: an :class:`Emit` is a request to record an event, carried out by the
services' one emit path (outbox, overflow alarm, publisher).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from contracts.messages import AlarmCleared, AlarmKind, AlarmRaised, CommandReply, DenyReason, Event

FEEDBACK = {
    None: "Welcome - the door is open",
    DenyReason.BAD_SIGNATURE: "Code not valid",
    DenyReason.EXPIRED: "Code expired - refresh the app",
    DenyReason.REPLAYED: "Code already used - show the new one",
    DenyReason.REVOKED: "Membership suspended - contact support",
    DenyReason.WRONG_STORE: "This code is for another store",
    DenyReason.MALFORMED: "Not a member code",
    DenyReason.UNKNOWN_KEY: "Code not recognised - update the app",
    DenyReason.OUTSIDE_HOURS: "Entry not allowed at this hour",
    DenyReason.OCCUPANCY_FULL: "Store is full - please wait",
    DenyReason.LOCKDOWN: "Store closed",
    DenyReason.PASSBACK: "Already inside - each shopper scans their own code",
    DenyReason.UNKNOWN_CREDENTIAL: "Card or PIN not recognised",
}


@dataclass(frozen=True)
class Emit:
    """Record an event (outbox, then MQTT)."""

    event: Event


@dataclass(frozen=True)
class Reply:
    """Answer an operator command."""

    reply: CommandReply


@dataclass(frozen=True)
class Feedback:
    """Tell the person at the reader what happened."""

    granted: bool
    message: str
    reason: DenyReason | None = None


def emit(cls: type[Event], store_id: str, ts: datetime, **fields: object) -> Emit:
    """Return an :class:`Emit` of a new ``cls`` event of store ``store_id`` at ``ts``."""
    return Emit(cls(store_id=store_id, ts=ts, **fields))


@dataclass
class AlarmBook:
    """The alarms a state machine raised and has not cleared; each (kind, source) is raised once.

    Attributes:
        active: (kind, source) -> detail of every raised alarm.
        detail_limit: longer details are cut to this many characters in the event (None: never).
    """

    active: dict[tuple[AlarmKind, str], str] = field(default_factory=dict)
    detail_limit: int | None = None

    def raise_alarm(
        self, kind: AlarmKind, source: str, store_id: str, ts: datetime, *, severity: str = "warning", detail: str = ""
    ) -> Emit | None:
        """Return the ``alarm_raised`` to emit, or None when this alarm is already raised."""
        key = (kind, source)
        if key in self.active:
            return None
        self.active[key] = detail
        shown = detail if self.detail_limit is None else detail[: self.detail_limit]
        return emit(AlarmRaised, store_id, ts, alarm=kind, source=source, severity=severity, detail=shown)

    def clear_alarm(self, kind: AlarmKind, source: str, store_id: str, ts: datetime) -> Emit | None:
        """Return the ``alarm_cleared`` to emit, or None when this alarm was not raised."""
        if self.active.pop((kind, source), None) is None:
            return None
        return emit(AlarmCleared, store_id, ts, alarm=kind, source=source)
