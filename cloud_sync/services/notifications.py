"""Pure decisions of webhook notifications: what to send, how it is signed, when to retry.

Nothing here touches the database or the network; ``notification_queue`` and ``webhook`` do.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
SIGNATURE_HEADER = "X-Smartstore-Signature"
TIMESTAMP_HEADER = "X-Smartstore-Timestamp"
DELIVERY_HEADER = "X-Smartstore-Delivery"


def severities_at_least(minimum: str) -> list[str]:
    """Return the severities ranked at or above ``minimum`` (info < warning < critical)."""
    floor = SEVERITY_RANK[minimum]
    return [s for s, rank in SEVERITY_RANK.items() if rank >= floor]


@dataclass(frozen=True)
class AlarmRow:
    """What a notification needs from a store alarm."""

    store_id: str
    alarm: str
    source: str
    severity: str
    detail: str
    raised_at: datetime


@dataclass(frozen=True)
class AlertRow:
    """What a notification needs from a cloud alert."""

    id: int
    store_id: str | None
    kind: str
    severity: str
    message: str
    details: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class NewNotification:
    """A notification to record: its dedupe key and the JSON body it will POST."""

    dedupe_key: str
    store_id: str | None
    kind: str
    severity: str
    payload: dict[str, Any]


def dashboard_link(public_url: str | None, store_id: str | None) -> str | None:
    """Return the dashboard page of the store (the fleet page without one); None without ``public_url``."""
    if not public_url:
        return None
    base = public_url.rstrip("/")
    return f"{base}/stores/{quote(store_id, safe='')}" if store_id else f"{base}/"


def from_alarm(alarm: AlarmRow, public_url: str | None) -> NewNotification:
    """Return the notification of one raise of a store alarm (keyed by when it was raised)."""
    key = f"alarm:{alarm.store_id}:{alarm.alarm}:{alarm.source}:{alarm.raised_at.isoformat()}"
    payload: dict[str, Any] = {
        "id": key,
        "type": "alarm",
        "kind": alarm.alarm,
        "store_id": alarm.store_id,
        "severity": alarm.severity,
        "source": alarm.source,
        "message": f"alarm {alarm.alarm} from {alarm.source} at store {alarm.store_id}",
        "detail": alarm.detail,
        "raised_at": alarm.raised_at.isoformat(),
        "link": dashboard_link(public_url, alarm.store_id),
    }
    return NewNotification(key[:200], alarm.store_id, alarm.alarm, alarm.severity, payload)


def from_alert(alert: AlertRow, public_url: str | None) -> NewNotification:
    """Return the notification of one cloud alert (``last_seen`` copied for store_offline)."""
    key = f"alert:{alert.id}"
    payload: dict[str, Any] = {
        "id": key,
        "type": "alert",
        "kind": alert.kind,
        "store_id": alert.store_id,
        "severity": alert.severity,
        "message": alert.message,
        "detail": alert.details,
        "raised_at": alert.created_at.isoformat(),
        "link": dashboard_link(public_url, alert.store_id),
    }
    if "last_seen" in alert.details:
        payload["last_seen"] = alert.details["last_seen"]
    return NewNotification(key, alert.store_id, alert.kind, alert.severity, payload)


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """Return the signature header value: ``sha256=`` HMAC-SHA256 of ``"{timestamp}." + body``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: int, body: bytes, signature: str) -> bool:
    """Return whether ``signature`` is the one :func:`sign` gives (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True)
class SendResult:
    """How one POST went: ``ok``; otherwise the error and whether a later attempt may succeed."""

    ok: bool
    error: str | None = None
    retryable: bool = True


def retryable_status(status: int) -> bool:
    """Return whether an HTTP error status is worth retrying (5xx, 408 timeout, 429 too many)."""
    return status >= 500 or status in (408, 429)


def backoff(attempts: int, base_s: float, cap_s: float) -> timedelta:
    """Return the wait after failed attempt number ``attempts`` (1-based): base * 2^(n-1), capped."""
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class NextState:
    """What a notification becomes after an attempt."""

    status: str
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None


def after_attempt(
    result: SendResult, attempts: int, now: datetime, *, max_attempts: int, base_s: float, cap_s: float
) -> NextState:
    """Return the state after attempt ``attempts``: delivered, pending (retry later) or failed."""
    if result.ok:
        return NextState("delivered", now, None, now)
    if not result.retryable or attempts >= max_attempts:
        return NextState("failed", now, result.error, None)
    return NextState("pending", now + backoff(attempts, base_s, cap_s), result.error, None)
