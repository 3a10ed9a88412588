"""Staff credentials: issue and revoke in the cloud, synced to the stores on the ``staff`` channel."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import Store
from cloud_sync.db.staff_models import StaffMember
from cloud_sync.services import audit
from cloud_sync.services.errors import Conflict, NotFound
from cloud_sync.services.sync import record_change, staff_entry
from contracts.staff import CredentialKind, StaffEntry, new_secret


def entry(row: StaffMember) -> StaffEntry:
    """Return the downlink form of a staff member (hashes only)."""
    return staff_entry(row)


def get_staff(session: Session, staff_id: str) -> StaffMember:
    """Return the staff member or raise NotFound."""
    row = session.get(StaffMember, staff_id)
    if row is None:
        raise NotFound(f"staff member {staff_id!r} not found")
    return row


def issue(
    session: Session,
    *,
    store_id: str,
    name: str,
    role: str,
    hours: list[str],
    credentials: dict[CredentialKind, str],
    actor: str,
    actor_role: str,
    staff_id: str | None = None,
) -> StaffMember:
    """Issue a staff member's card and/or PIN (hashed here; the clear values are not kept), audited."""
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound(f"store {store_id!r} not found")
    staff_id = staff_id or "s-" + uuid.uuid4().hex[:12]
    if session.get(StaffMember, staff_id) is not None:
        raise Conflict(f"staff member {staff_id!r} exists")
    secrets = [new_secret(store_id, kind, value) for kind, value in credentials.items()]
    row = StaffMember(
        id=staff_id,
        store_id=store_id,
        name=name,
        role=role,
        hours=list(hours),
        secrets=[s.model_dump(mode="json") for s in secrets],
        created_at=utcnow(),
        created_by=actor[:100],
    )
    session.add(row)
    session.flush()
    record_change(session, "staff", upsert=[entry(row)])
    audit.record(
        session,
        actor=actor,
        role=actor_role,
        action="staff.issue",
        store_id=store_id,
        target=staff_id,
        details={"role": role, "hours": list(hours), "credentials": sorted(credentials)},
    )
    return row


def revoke(session: Session, staff_id: str, *, reason: str, actor: str, actor_role: str) -> StaffMember:
    """Revoke a staff member: the stores drop their credentials with the next ``staff`` delta, audited."""
    row = get_staff(session, staff_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_reason = reason or None
        session.flush()
        record_change(session, "staff", remove_ids=[staff_id])
        audit.record(
            session,
            actor=actor,
            role=actor_role,
            action="staff.revoke",
            store_id=row.store_id,
            target=staff_id,
            details={"reason": reason},
        )
    return row
