"""Operator alerts raised by the cloud (reconciliation, low stock), deduplicated by key."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.dialect import insert_ignore
from cloud_sync.db.models import Alert

ALERT_KINDS = (
    "wallet_overdraft",
    "coupon_double_redemption",
    "coupon_unknown",
    "coupon_wrong_member",
    "coupon_revoked",
    "payment_mismatch",
    "unknown_member_sale",
    "low_stock",
    "revoked_member_sale",
    "checkout_abandoned",
    "delivery_gap",
    "enrolment_burnt",
    "charge_mismatch",
    "store_offline",
)


def raise_alert(
    session: Session,
    *,
    kind: str,
    message: str,
    store_id: str | None = None,
    severity: str = "warning",
    details: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Insert an alert unless one with the same ``dedupe_key`` exists."""
    dialect = session.get_bind().dialect.name
    session.execute(
        insert_ignore(Alert, dialect).values(
            kind=kind,
            message=message,
            store_id=store_id,
            severity=severity,
            details=details or {},
            dedupe_key=dedupe_key,
            created_at=utcnow(),
        )
    )
