"""The audit log: who did what to which store, through the API or the CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cloud_sync.db.models import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    store_id: str | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit entry in the caller's transaction (it commits with the action it records)."""
    entry = AuditEntry(
        actor=actor[:100], role=role, action=action, store_id=store_id, target=target[:200], details=details or {}
    )
    session.add(entry)
    return entry
