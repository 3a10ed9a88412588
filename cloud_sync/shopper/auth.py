"""Shopper sign-in: contacts, one-time codes (hashed, short-lived, few attempts) and sessions."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import Member
from cloud_sync.db.shopper_models import ShopperCode, ShopperContact, ShopperSession
from cloud_sync.services.errors import Invalid, ServiceError
from cloud_sync.services.members import create_member
from cloud_sync.shopper.senders import CodeMessage, CodeSender

MAX_ATTEMPTS = 5
RATE_WINDOW = timedelta(minutes=15)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")


class TooManyRequests(ServiceError):
    """Too many attempts: wait and try again."""

    status = 429


class SignInRefused(ServiceError):
    """The code is wrong, expired or used up."""

    status = 401


def digest(secret: str) -> str:
    """Return the SHA-256 hex digest of a secret (codes, session tokens)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def normalise_contact(text: str) -> tuple[str, str]:
    """Return (kind, address): an e-mail in lower case, or a phone number's digits with its ``+``.

    Raises:
        Invalid: neither an e-mail address nor a phone number.
    """
    value = text.strip()
    if "@" in value:
        value = value.lower()
        if _EMAIL.fullmatch(value):
            return "email", value
        raise Invalid("that does not look like an e-mail address")
    phone = re.sub(r"[\s().-]", "", value)
    if _PHONE.fullmatch(phone):
        return "phone", phone
    raise Invalid("enter an e-mail address or a phone number")


def request_code(
    session: Session,
    sender: CodeSender,
    contact: str,
    *,
    client: str,
    ttl_s: int,
    per_contact: int,
    per_client: int,
) -> datetime:
    """Send a fresh 6-digit code to ``contact``; return when it expires.

    Raises:
        TooManyRequests: this contact or this client asked too often in the last 15 minutes.
    """
    kind, address = normalise_contact(contact)
    now = utcnow()
    since = now - RATE_WINDOW
    recent = func.count(ShopperCode.id)
    by_contact = session.scalar(select(recent).where(ShopperCode.address == address, ShopperCode.created_at > since))
    by_client = session.scalar(select(recent).where(ShopperCode.client == client, ShopperCode.created_at > since))
    if (by_contact or 0) >= per_contact or (by_client or 0) >= per_client:
        raise TooManyRequests("too many codes asked for; wait 15 minutes and try again")
    code = f"{secrets.randbelow(1_000_000):06d}"
    expires = now + timedelta(seconds=ttl_s)
    session.execute(
        update(ShopperCode).where(ShopperCode.address == address, ShopperCode.used_at.is_(None)).values(used_at=now)
    )
    session.add(
        ShopperCode(
            address=address, client=client, code_hash=digest(f"{address}:{code}"), created_at=now, expires_at=expires
        )
    )
    session.flush()
    minutes = max(1, ttl_s // 60)
    sender.send(CodeMessage(kind, address, code, f"Your smartstore code is {code}. It works for {minutes} minutes."))
    return expires


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's secret, the member, whether they just joined, and the expiry."""

    token: str
    member_id: str
    joined: bool
    expires_at: datetime


def verify_code(session: Session, contact: str, code: str, *, session_hours: int) -> SignedIn:
    """Check the newest code of ``contact``; join the member if new; open a session.

    Raises:
        SignInRefused: wrong, expired or used-up code (each wrong try counts).
    """
    kind, address = normalise_contact(contact)
    now = utcnow()
    row = session.scalar(
        select(ShopperCode)
        .where(ShopperCode.address == address, ShopperCode.used_at.is_(None))
        .order_by(ShopperCode.id.desc())
        .limit(1)
        .with_for_update()
    )
    if row is None or row.expires_at <= now:
        raise SignInRefused("this code has expired; ask for a new one")
    if row.attempts >= MAX_ATTEMPTS:
        raise SignInRefused("too many wrong codes; ask for a new one")
    if not hmac.compare_digest(row.code_hash, digest(f"{address}:{code.strip()}")):
        row.attempts += 1
        if row.attempts >= MAX_ATTEMPTS:
            row.used_at = now
        session.flush()
        raise SignInRefused("wrong code" if row.attempts < MAX_ATTEMPTS else "too many wrong codes; ask for a new one")
    row.used_at = now
    member_id, joined = _member_for(session, kind, address)
    token = "shs_" + secrets.token_urlsafe(32)
    expires = now + timedelta(hours=session_hours)
    session.add(ShopperSession(token_hash=digest(token), member_id=member_id, created_at=now, expires_at=expires))
    session.flush()
    return SignedIn(token, member_id, joined, expires)


def _member_for(session: Session, kind: str, address: str) -> tuple[str, bool]:
    """Return the member of ``address``, joining a new one (opaque id, no PII on the member)."""
    contact = session.scalar(select(ShopperContact).where(ShopperContact.address == address))
    if contact is not None:
        return contact.member_id, False
    member = create_member(session, member_id=None, name="app shopper", tier="standard", phone=None)
    session.add(ShopperContact(member_id=member.id, kind=kind, address=address))
    session.flush()
    return member.id, True


def session_member(session: Session, token: str) -> Member | None:
    """Return the member of a live session token, or None (unknown, ended or expired)."""
    row = session.scalar(select(ShopperSession).where(ShopperSession.token_hash == digest(token)))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    return session.get(Member, row.member_id)


def end_session(session: Session, token: str) -> None:
    """Sign a session out."""
    session.execute(
        update(ShopperSession)
        .where(ShopperSession.token_hash == digest(token), ShopperSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
