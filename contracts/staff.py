"""Staff credentials on the wire: roles, schedules and salted hashes of card numbers and PINs.

The cloud never keeps a card number or a PIN, and neither does a store: both hold
``credential_hash(store_id, kind, value, salt)``, PBKDF2-SHA256 over the value with a random
per-credential salt that also binds the store and the kind (a hash copied from one store or one
kind matches nothing elsewhere). A card number is written ``facility:card`` (a 26/34-bit
Wiegand or OSDP read); a PIN is its digits. Low-entropy secrets stay guessable from a hash by
brute force, so the hashes only keep them from being read off a store's disk or the broker.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

# A store checks a presented value against each of its staff's hashes, so this stays modest;
# each secret names its own count, so it can be raised later without breaking stored hashes.
ITERATIONS: Final = 5_000
StaffRole = Literal["restocker", "cleaner", "manager"]
STAFF_ROLES: Final = ("restocker", "cleaner", "manager")
CredentialKind = Literal["card", "pin"]
CARD_RE: Final = re.compile(r"^[0-9]{1,5}:[0-9]{1,10}$")
PIN_RE: Final = re.compile(r"^[0-9]{4,8}$")
TIME_RANGE = r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{32,64}$")]


def card_text(facility: int, card: int) -> str:
    """Return the canonical text of a card read (``facility:card``)."""
    return f"{facility}:{card}"


def check_value(kind: CredentialKind, value: str) -> str:
    """Return ``value`` if it is a well-formed card number or PIN, else raise ``ValueError``."""
    pattern = CARD_RE if kind == "card" else PIN_RE
    if not pattern.match(value):
        shape = "facility:card, e.g. 12:34567" if kind == "card" else "4 to 8 digits"
        raise ValueError(f"a staff {kind} must be {shape}")
    return value


def credential_hash(store_id: str, kind: CredentialKind, value: str, salt: str, iterations: int = ITERATIONS) -> str:
    """Return the hex PBKDF2-SHA256 hash of a credential (``salt`` is hex)."""
    material = f"smartstore-staff/{store_id}/{kind}/".encode() + bytes.fromhex(salt)
    return hashlib.pbkdf2_hmac("sha256", value.encode(), material, iterations).hex()


def new_secret(store_id: str, kind: CredentialKind, value: str) -> StaffSecret:
    """Hash a new credential with a fresh random salt."""
    salt = secrets.token_hex(16)
    return StaffSecret(kind=kind, salt=salt, hash=credential_hash(store_id, kind, check_value(kind, value), salt))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaffSecret(_Model):
    """One credential of a staff member: its kind, salt and hash (never the value)."""

    kind: CredentialKind
    salt: Hex
    hash: Hex
    iterations: Annotated[int, Field(ge=1_000, le=1_000_000)] = ITERATIONS

    def matches(self, store_id: str, kind: str, value: str) -> bool:
        """Return whether ``value`` of ``kind`` is this credential (constant-time compare)."""
        if kind != self.kind:
            return False
        expected = credential_hash(store_id, self.kind, value, self.salt, self.iterations)
        return hmac.compare_digest(expected, self.hash)


class StaffEntry(_Model):
    """A staff member allowed at one store.

    Attributes:
        id: staff id (``access_granted.staff_id``).
        store_id: the store the credentials open.
        role: ``restocker``, ``cleaner`` or ``manager`` (a manager also resolves held checkout reviews).
        hours: daily local-time ranges (``HH:MM-HH:MM``, the door's time zone) the credentials
            work in; empty means at any time.
        secrets: the hashed card and/or PIN.
    """

    id: Annotated[str, Field(min_length=1, max_length=64)]
    store_id: Annotated[str, Field(min_length=1, max_length=64)]
    role: StaffRole
    hours: list[Annotated[str, Field(pattern=TIME_RANGE)]] = Field(default_factory=list)
    secrets: list[StaffSecret] = Field(default_factory=list, max_length=4)
