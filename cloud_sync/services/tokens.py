"""API tokens: random secrets shown once, stored as SHA-256 digests, each with a role."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import ApiToken
from cloud_sync.services.errors import Invalid

TOKEN_PREFIX = "sst_"  # noqa: S105 - a prefix, not a secret


class Role(StrEnum):
    """What a token may do: operators everything, technicians stores and stock, devices sync."""

    OPERATOR = "operator"
    TECHNICIAN = "technician"
    DEVICE = "device"


def hash_token(secret: str) -> str:
    """Return the stored digest of a token (SHA-256 suffices for 256-bit random secrets)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    name: str,
    role: Role,
    store_id: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; return the row and the secret (shown once, never stored).

    Raises:
        Invalid: a device token without a store (a device acts for exactly one store).
    """
    if role is Role.DEVICE and not store_id:
        raise Invalid("a device token must be bound to a store (--store STORE_ID)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role.value, token_hash=hash_token(secret), store_id=store_id, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, secret


def authenticate(session: Session, secret: str) -> ApiToken | None:
    """Return the live token matching ``secret``, or ``None``."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    return row


def revoke_token(session: Session, token_id: int) -> bool:
    """Revoke a token by id; return whether it existed."""
    row = session.get(ApiToken, token_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return True
