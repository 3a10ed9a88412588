"""Staff helpers for tests and the demo: a restocker's badge on a reader simulator, a signed staff list."""

from __future__ import annotations

from typing import Any

from contracts.staff import StaffEntry, new_secret
from contracts.sync import StaffList

RESTOCKER_BADGE = "12:34567"  # facility 12, card 34567 (26-bit Wiegand)
MANAGER_PIN = "2580"


def present_card(reader: Any, card: str, *, bits: int = 26) -> None:
    """Present the card ``facility:card`` on a Wiegand or OSDP simulator (``WiegandSimulator.card``)."""
    facility, number = (int(part) for part in card.split(":"))
    reader.card(facility, number, bits)


def type_pin(keypad: Any, pin: str) -> None:
    """Type ``pin`` and ``#`` on a keypad, Wiegand-with-keypad or OSDP simulator."""
    keypad.keys(pin + "#")


def staff_entry(
    staff_id: str,
    store_id: str,
    role: str,
    *,
    card: str | None = None,
    pin: str | None = None,
    hours: tuple[str, ...] = (),
) -> StaffEntry:
    """Return a staff entry as the cloud syncs it (the card and PIN hashed)."""
    secrets = [new_secret(store_id, "card", card)] if card else []
    secrets += [new_secret(store_id, "pin", pin)] if pin else []
    return StaffEntry(id=staff_id, store_id=store_id, role=role, hours=list(hours), secrets=secrets)


def staff_list(version: int, *entries: StaffEntry) -> StaffList:
    """Return a ``staff`` snapshot of ``entries``."""
    return StaffList(version=version, staff=list(entries))
