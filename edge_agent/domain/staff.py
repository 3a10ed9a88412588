"""Staff credentials at the store: what a reader delivered, and whether it lets staff in.

Pure: the door and the checkout stations ask a :class:`StaffDirectory` (the synced ``staff``
channel, this store's entries only) about a :class:`CredentialPresented` card or PIN. A staff
entry is never a shopper: the door lets it in without counting it against occupancy, and a
manager's credential at a checkout station resolves a held review (docs/door.md, "Staff").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from contracts.messages import AccessDenied, AccessGranted, DenyReason
from contracts.staff import StaffEntry
from edge_agent.domain.access import AccessPolicy, TimeRange
from edge_agent.domain.actions import FEEDBACK, Feedback

if TYPE_CHECKING:
    from edge_agent.domain.door import DoorAction, DoorController


@dataclass(frozen=True)
class CredentialPresented:
    """A card (``facility:card``) or a PIN was read at ``reader`` (a door reader or ``<station>-...``)."""

    kind: Literal["card", "pin"]
    value: str
    reader: str = "door"


@dataclass(frozen=True)
class StaffDecision:
    """The answer to one credential: ``granted``, or a ``reason`` with a ``detail``."""

    granted: bool
    reason: DenyReason | None = None
    staff_id: str | None = None
    role: Literal["restocker", "cleaner", "manager"] | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Staff:
    entry: StaffEntry
    hours: tuple[TimeRange, ...]


class StaffDirectory:
    """The store's staff, as last synced; checks cards and PINs against their hashes and schedules."""

    def __init__(self, store_id: str, policy: AccessPolicy, entries: Iterable[StaffEntry] = ()) -> None:
        """Hold ``entries`` of ``store_id``; schedules are read in ``policy``'s time zone."""
        self.store_id = store_id
        self.policy = policy
        self.version = 0
        self._staff: dict[str, _Staff] = {}
        self.replace(entries, 0)

    def replace(self, entries: Iterable[StaffEntry], version: int) -> None:
        """Install the synced staff (entries of other stores are dropped)."""
        self._staff = {
            e.id: _Staff(e, tuple(TimeRange.parse(h) for h in e.hours)) for e in entries if e.store_id == self.store_id
        }
        self.version = version

    def __len__(self) -> int:
        """Return how many staff members this store knows."""
        return len(self._staff)

    def find(self, kind: str, value: str) -> StaffEntry | None:
        """Return the staff member whose ``kind`` credential is ``value``, if any."""
        for staff in self._staff.values():
            if any(s.matches(self.store_id, kind, value) for s in staff.entry.secrets):
                return staff.entry
        return None

    def check(self, credential: CredentialPresented, now: float) -> StaffDecision:
        """Decide whether ``credential`` lets a staff member in at unix time ``now``."""
        entry = self.find(credential.kind, credential.value)
        if entry is None:
            detail = f"{credential.kind} not issued to staff of this store (staff list v{self.version})"
            return StaffDecision(False, DenyReason.UNKNOWN_CREDENTIAL, detail=detail)
        hours = self._staff[entry.id].hours
        local = self.policy.local_time(now)
        if hours and not any(r.contains(local) for r in hours):
            detail = f"{entry.role} {entry.id} may enter {', '.join(entry.hours)}, not at {local:%H:%M}"
            return StaffDecision(False, DenyReason.OUTSIDE_HOURS, entry.id, entry.role, detail)
        return StaffDecision(True, None, entry.id, entry.role)

    def manager(self, credential: CredentialPresented, now: float) -> StaffDecision:
        """Like ``check``, and only a manager is granted (a checkout review needs one)."""
        decision = self.check(credential, now)
        if decision.granted and decision.role != "manager":
            detail = f"{decision.role} {decision.staff_id} cannot resolve a checkout review (managers only)"
            return StaffDecision(False, DenyReason.UNKNOWN_CREDENTIAL, decision.staff_id, decision.role, detail)
        return decision


def admit_staff(door: DoorController, credential: CredentialPresented, out: list[DoorAction]) -> None:
    """Let staff in through ``door`` (released for ``unlock_s``, never counted as a shopper), or refuse."""
    now = door.clock.time()
    decision = door.staff.check(credential, now)
    if decision.granted and door.lockdown:
        decision = StaffDecision(False, DenyReason.LOCKDOWN, decision.staff_id, decision.role, "store is in lockdown")
    door_id = door.config.door_id
    if not decision.granted:
        assert decision.reason is not None
        out.append(Feedback(False, FEEDBACK[decision.reason], decision.reason))
        detail = f"{credential.kind} at {credential.reader}: {decision.detail}"[:500]
        out.append(door._emit(AccessDenied, door_id=door_id, reason=decision.reason, detail=detail))
        return
    mono = door.clock.monotonic()
    door.door.last_grant_at = mono
    door.door.last_grant_member = None
    door.door.last_grant_staff = True
    door.passages.granted(mono, door.config.unlock_s, staff=True)  # a passage sensor sees no tailgater
    from edge_agent.domain.door import LockTrigger  # the door imports this module

    door._release(door.config.unlock_s, LockTrigger.GRANT, out)
    out.append(Feedback(True, FEEDBACK[None]))
    out.append(
        door._emit(AccessGranted, door_id=door_id, via="staff", staff_id=decision.staff_id, staff_role=decision.role)
    )
