"""Webhook notifications as delivered (or not): ``GET /notifications`` for operators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from cloud_sync.api.deps import Operator, PagingDep, SessionDep
from cloud_sync.api.pagination import page_of
from cloud_sync.api.schemas import Page
from cloud_sync.db.models import Notification

router = APIRouter(tags=["notifications"])


class NotificationOut(BaseModel):
    """One alarm or alert sent (or to send) to the webhook, with how its delivery went."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    dedupe_key: str
    store_id: str | None
    kind: str
    severity: str
    payload: dict[str, Any]
    created_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None


@router.get("/notifications", response_model=Page[NotificationOut])
def notifications(
    session: SessionDep,
    _p: Operator,
    paging: PagingDep,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    store_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
) -> Page[NotificationOut]:
    """Webhook notifications, newest first: status, attempts, last error, when delivered."""
    query = select(Notification).order_by(Notification.created_at.desc(), Notification.id.desc())
    if status:
        query = query.where(Notification.status == status)
    if store_id:
        query = query.where(Notification.store_id == store_id)
    return page_of(session, query, paging, NotificationOut)
