"""ORM model of staff credentials (kept apart so ``models.py`` stays small)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud_sync.db.base import Base, utcnow

ID = 64


class StaffMember(Base):
    """A staff member of one store: role, schedule and the salted hashes of their card/PIN (never clear)."""

    __tablename__ = "staff_members"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    hours: Mapped[list[str]] = mapped_column(JSON, default=list)
    secrets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # contracts.staff.StaffSecret
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str | None] = mapped_column(Text, default=None)
