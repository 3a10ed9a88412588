"""Members, issuer keys, passes and revocation (the wallet is ``cloud_sync.services.wallet``)."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import IssuerKeyRow, Member, MemberPhoneKey
from cloud_sync.services.errors import Conflict, NotFound, Unavailable
from cloud_sync.services.sync import record_change
from contracts.errors import ContractError
from contracts.member_code import IssuerKey, pem_is_encrypted


def mark_sync_changed(session: Session) -> None:
    """Tell the request wrapper to wake the downlink publisher after commit."""
    session.info["sync_changed"] = True


def get_member(session: Session, member_id: str, *, lock: bool = False) -> Member:
    """Return the member or raise NotFound."""
    query = select(Member).where(Member.id == member_id)
    if lock:
        query = query.with_for_update()
    member = session.scalar(query)
    if member is None:
        raise NotFound(f"member {member_id!r} not found")
    return member


def create_member(session: Session, *, member_id: str | None, name: str, tier: str, phone: str | None) -> Member:
    """Register a member (id generated when not given)."""
    member_id = member_id or "m-" + uuid.uuid4().hex[:12]
    if session.get(Member, member_id) is not None:
        raise Conflict(f"member {member_id!r} exists")
    member = Member(id=member_id, name=name, tier=tier, phone=phone, balance_cents=0, created_at=utcnow())
    session.add(member)
    session.flush()
    return member


# ------------------------------------------------------------------------- issuer keys


def create_issuer_key(session: Session, passphrase: bytes | None = None) -> IssuerKeyRow:
    """Generate a pass-signing key; its public part goes down the ``keys`` channel.

    The private key is stored as PKCS#8 PEM, encrypted with ``passphrase`` (``CLOUD_KEY_PASSPHRASE``)
    when one is configured, so a copy of the database alone cannot sign passes.
    """
    key = IssuerKey.generate()
    row = IssuerKeyRow(
        kid=key.kid.hex(),
        private_pem=key.to_pem(passphrase).decode(),
        public_b64=base64.b64encode(key.public_raw).decode(),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    record_change(session, "keys")
    mark_sync_changed(session)
    return row


def retire_issuer_key(session: Session, kid: str) -> IssuerKeyRow:
    """Stop signing with a key and remove it from the stores' trusted set."""
    row = session.get(IssuerKeyRow, kid)
    if row is None:
        raise NotFound(f"issuer key {kid!r} not found")
    if row.retired_at is None:
        row.retired_at = utcnow()
        session.flush()
        record_change(session, "keys")
        mark_sync_changed(session)
    return row


def signing_key(session: Session, passphrase: bytes | None = None) -> IssuerKey:
    """Return the newest active issuer key, creating one if there is none.

    A key stored in clear is re-stored encrypted the first time it is used with a passphrase.

    Raises:
        Unavailable: The key is encrypted and the passphrase is missing or wrong.
    """
    row = session.scalar(
        select(IssuerKeyRow).where(IssuerKeyRow.retired_at.is_(None)).order_by(IssuerKeyRow.created_at.desc()).limit(1)
    )
    if row is None:
        row = create_issuer_key(session, passphrase)
    try:
        key = IssuerKey.from_pem(row.private_pem.encode(), passphrase)
    except ContractError as err:
        raise Unavailable(f"issuer key {row.kid} cannot be used: {err} (check CLOUD_KEY_PASSPHRASE)") from err
    if passphrase and not pem_is_encrypted(row.private_pem.encode()):
        row.private_pem = key.to_pem(passphrase).decode()
    return key


def issue_pass(
    session: Session, member_id: str, phone_key_hex: str, valid_s: int, passphrase: bytes | None = None
) -> tuple[str, bytes, datetime, datetime]:
    """Sign a pass for a member's phone key; return (kid hex, signed pass, not_before, expires)."""
    member = get_member(session, member_id)
    if member.revoked_at is not None:
        raise Conflict(f"member {member_id!r} is revoked")
    phone_key = bytes.fromhex(phone_key_hex)
    revoked_key = session.scalar(
        select(MemberPhoneKey.id).where(
            MemberPhoneKey.phone_key == phone_key_hex, MemberPhoneKey.revoked_at.is_not(None)
        )
    )
    if revoked_key is not None:
        raise Conflict("this phone key is revoked; enrol a new one")
    key = signing_key(session, passphrase)
    now = int(time.time())
    signed = key.issue_pass(member_id=member.id, tier=member.tier, phone_key=phone_key, now=now, valid_s=valid_s)
    not_before = datetime.fromtimestamp(now, UTC)
    expires = datetime.fromtimestamp(now + valid_s, UTC)
    session.add(
        MemberPhoneKey(
            member_id=member.id, phone_key=phone_key_hex, kid=key.kid.hex(), issued_at=not_before, expires_at=expires
        )
    )
    session.flush()
    return key.kid.hex(), signed, not_before, expires


def revoke(session: Session, member_id: str, *, reason: str, phone_key: str | None) -> Member:
    """Revoke a member (or one phone key); the revocation list goes to every store at once."""
    member = get_member(session, member_id)
    now = utcnow()
    if phone_key is not None:
        rows = session.scalars(
            select(MemberPhoneKey).where(MemberPhoneKey.member_id == member_id, MemberPhoneKey.phone_key == phone_key)
        ).all()
        if not rows:
            raise NotFound(f"phone key not enrolled for member {member_id!r}")
        if any(r.revoked_at is None for r in rows):
            for r in rows:
                r.revoked_at = r.revoked_at or now
            session.flush()
            record_change(session, "revocations", add_phone_keys=[phone_key])
            mark_sync_changed(session)
        return member
    if member.revoked_at is None:
        member.revoked_at = now
        member.revoked_reason = reason or None
        session.flush()
        record_change(session, "revocations", add_member_ids=[member_id])
        mark_sync_changed(session)
    return member


def reinstate(session: Session, member_id: str) -> Member:
    """Undo a member revocation."""
    member = get_member(session, member_id)
    if member.revoked_at is not None:
        member.revoked_at = None
        member.revoked_reason = None
        session.flush()
        record_change(session, "revocations", remove_member_ids=[member_id])
        mark_sync_changed(session)
    return member
