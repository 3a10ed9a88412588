"""API schemas of a store's reported state and of what operators do about it: alarms, commands, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from cloud_sync.api.schemas import StoreId, StoreOut, _In, _Out


class DeviceOut(_Out):
    """A device's last reported status."""

    device: str
    kind: str
    status: str
    detail: str
    ts: datetime


class StoreDetail(StoreOut):
    """A store with its devices, open alarms and applied downlink versions."""

    devices: list[DeviceOut] = Field(default_factory=list)
    open_alarms: list[AlarmOut] = Field(default_factory=list)
    sync_versions: dict[str, int] = Field(default_factory=dict)
    last_event_at: datetime | None = None


class AlarmOut(_Out):
    """A store alarm's current state."""

    store_id: str
    alarm: str
    source: str
    active: bool
    severity: str
    detail: str
    raised_at: datetime | None
    cleared_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None


CommandName = Literal["unlock", "lockdown", "set_mode", "reset_occupancy", "resolve_review"]


class CommandIn(_In):
    """An operator command for one store; ``args`` depend on ``name`` (see the API docs)."""

    name: CommandName
    reason: Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00]*$")]
    args: dict[str, Any] = Field(default_factory=dict, max_length=8)


class CommandOut(_Out):
    """A command as sent, and the store's reply once it came (``unanswered`` after its lifetime without one)."""

    correlation_id: str
    store_id: str
    name: str
    args: dict[str, Any]
    reason: str
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    status: str
    reply_error: str | None
    replied_at: datetime | None
    latency_ms: float | None


class AlarmAck(_In):
    """Which alarm to acknowledge."""

    store_id: StoreId
    alarm: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z_]+$")]
    source: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]*$")]


class AlarmChange(BaseModel):
    """One raise or clear of an alarm, from the events table."""

    alarm: str
    source: str
    state: Literal["raised", "cleared"]
    severity: str
    detail: str
    ts: datetime


class AuditOut(_Out):
    """Who did what, when."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    store_id: str | None
    target: str
    details: dict[str, Any]


StoreDetail.model_rebuild()
