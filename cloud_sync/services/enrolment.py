"""Enrol, confirm and retire store agents (the cloud's half of ``contracts.enrolment``).

Tokens and pairing codes are stored as SHA-256 digests. Provisioning (a broker login, a device
API token, the keys the store must trust) happens at confirmation through a ``Provisioner``,
so this module needs no broker or key store; the bundle waits in the row until the confirmed
device collects it once, then it is wiped.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import ApiToken, Store, StoreEnrolment
from cloud_sync.services.alerts import raise_alert
from cloud_sync.services.errors import Conflict, NotFound, ServiceError
from contracts.enrolment import (
    ENROL_TOKEN_PREFIX,
    CollectRequest,
    EnrolBundle,
    EnrolRequest,
    check_device_key,
    pairing_code,
    verify_collect,
)

MAX_CODE_ATTEMPTS = 5
Provisioner = Callable[[StoreEnrolment, Session], EnrolBundle]


class EnrolmentRefused(ServiceError):
    """A token, code or collect request that is not accepted (nothing changed but a counted attempt)."""

    status = 403


class EnrolmentGone(ServiceError):
    """The enrolment cannot go on (burnt or cancelled): start a new one."""

    status = 410


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    """A new enrolment token (its secret is shown once)."""

    enrolment: StoreEnrolment
    token: str


def issue(session: Session, store_id: str, *, ttl: timedelta = timedelta(hours=24), replace: bool = False) -> Issued:
    """Create a one-time token for ``store_id``; earlier unfinished enrolments of it are cancelled.

    Raises:
        NotFound: no such store.
        Conflict: the store has an active agent and ``replace`` was not asked for.
    """
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}: create it first")
    if store.agent_key is not None and not replace:
        raise Conflict(f"store {store_id!r} has an active agent; re-enrol with replace to retire it")
    session.execute(
        update(StoreEnrolment)
        .where(StoreEnrolment.store_id == store_id, StoreEnrolment.state.in_(("issued", "claimed", "confirmed")))
        .values(state="cancelled", bundle=None)
    )
    token = ENROL_TOKEN_PREFIX + secrets.token_urlsafe(24)
    row = StoreEnrolment(
        id=uuid.uuid4().hex,
        store_id=store_id,
        token_hash=_digest(token),
        state="issued",
        replace=replace,
        expires_at=utcnow() + ttl,
        attempts=0,
    )
    session.add(row)
    session.flush()
    return Issued(row, token)


def claim(session: Session, request: EnrolRequest) -> StoreEnrolment:
    """Bind a token to the device key that presents it; the pairing code is now defined.

    Raises:
        EnrolmentRefused: unknown, used or expired token, or an unusable device key.
    """
    row = session.scalar(select(StoreEnrolment).where(StoreEnrolment.token_hash == _digest(request.token)))
    if row is None:
        raise EnrolmentRefused("unknown enrolment token")
    if row.state != "issued":
        raise EnrolmentRefused(f"this enrolment token was used already ({row.state})")
    if row.expires_at <= utcnow():
        raise EnrolmentRefused(f"this enrolment token expired at {row.expires_at:%Y-%m-%d %H:%M} UTC")
    try:
        check_device_key(request.device_key)
    except ValueError as err:
        raise EnrolmentRefused(str(err)) from err
    row.state, row.claimed_at = "claimed", utcnow()
    row.device_key, row.hardware = request.device_key, dict(request.hardware)
    row.code_hash = _digest(pairing_code(request.token, request.device_key, row.id))
    session.flush()
    return row


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation attempt did (the caller commits either way, then answers)."""

    enrolment: StoreEnrolment
    accepted: bool
    detail: str


def confirm(session: Session, store_id: str, code: str, provision: Provisioner) -> Confirmation:
    """Check the pairing code the operator read off the store's screen; on a match provision the agent.

    A wrong code counts; after ``MAX_CODE_ATTEMPTS`` the token is burnt and an alert raised.

    Raises:
        NotFound: no enrolment of this store waits for confirmation.
    """
    row = session.scalar(
        select(StoreEnrolment)
        .where(StoreEnrolment.store_id == store_id, StoreEnrolment.state == "claimed")
        .order_by(StoreEnrolment.claimed_at.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound(f"no enrolment of store {store_id!r} is waiting for its pairing code")
    if not hmac.compare_digest(_digest(code.strip()), row.code_hash or ""):
        row.attempts += 1
        left = MAX_CODE_ATTEMPTS - row.attempts
        if left > 0:
            return Confirmation(row, False, f"wrong pairing code ({left} attempt{'s' if left > 1 else ''} left)")
        row.state = "burnt"
        raise_alert(
            session,
            kind="enrolment_burnt",
            message=f"store {store_id}: {MAX_CODE_ATTEMPTS} wrong pairing codes; the enrolment token is burnt",
            store_id=store_id,
            severity="critical",
            details={"enrolment_id": row.id, "hardware": row.hardware or {}},
            dedupe_key=f"enrolment_burnt:{row.id}",
        )
        return Confirmation(row, False, "wrong pairing code: the token is burnt; create a new enrolment")
    store = session.get(Store, store_id)
    assert store is not None  # an enrolment is only issued for an existing store
    if store.agent_key is not None:
        retire_tokens(session, store_id)
    bundle = provision(row, session)
    row.state, row.confirmed_at, row.bundle = "confirmed", utcnow(), bundle.model_dump(mode="json")
    store.agent_key, store.enrolled_at, store.retired_at = row.device_key, utcnow(), None
    session.flush()
    return Confirmation(
        row, True, f"store {store_id} paired with device {row.device_key[:12] if row.device_key else ''}"
    )


def collect(session: Session, enrolment_id: str, request: CollectRequest) -> EnrolBundle | None:
    """Hand the bundle to the device that claimed the token, once; None while it waits for confirmation.

    Raises:
        NotFound: unknown enrolment.
        EnrolmentRefused: the request is not signed by the claiming device, or is stale.
        EnrolmentGone: burnt, cancelled or already collected.
    """
    row = session.get(StoreEnrolment, enrolment_id)
    if row is None or row.device_key is None:
        raise NotFound("unknown enrolment")
    why = verify_collect(row.device_key, enrolment_id, request, utcnow().timestamp())
    if why is not None:
        raise EnrolmentRefused(why)
    if row.state == "claimed":
        return None
    if row.state != "confirmed" or row.bundle is None:
        raise EnrolmentGone(f"enrolment is {row.state}: create a new one")
    bundle = EnrolBundle.model_validate(row.bundle)
    row.state, row.delivered_at, row.bundle = "delivered", utcnow(), None
    session.flush()
    return bundle


def retire_tokens(session: Session, store_id: str) -> int:
    """Revoke every API token bound to ``store_id``; return how many were live."""
    result = session.execute(
        update(ApiToken).where(ApiToken.store_id == store_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def retire(session: Session, store_id: str) -> Store:
    """Retire a store's agent: tokens revoked, device key forgotten (the broker login goes separately).

    Raises:
        NotFound: no such store.
    """
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    retire_tokens(session, store_id)
    session.execute(
        update(StoreEnrolment)
        .where(StoreEnrolment.store_id == store_id, StoreEnrolment.state.in_(("issued", "claimed", "confirmed")))
        .values(state="cancelled", bundle=None)
    )
    store.agent_key, store.retired_at = None, utcnow()
    session.flush()
    return store
