"""What an operator does about a store: commands (with the store's replies), alarm acknowledgement, the audit log."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from sqlalchemy import select

from cloud_sync.api.deps import Operator, PagingDep, SessionDep, Staff
from cloud_sync.api.operator_schemas import AlarmAck, AlarmChange, AlarmOut, AuditOut, CommandIn, CommandOut
from cloud_sync.api.pagination import paginate
from cloud_sync.api.routes.stores import StorePath
from cloud_sync.api.schemas import Page
from cloud_sync.db.base import utcnow
from cloud_sync.db.models import Alarm, AuditEntry, Event, OperatorCommand
from cloud_sync.services import audit, commands
from cloud_sync.services.errors import NotFound, Unavailable
from cloud_sync.services.inventory import get_store

router = APIRouter(tags=["operations"])
CorrelationId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _out(row: OperatorCommand) -> CommandOut:
    return CommandOut.model_validate(row).model_copy(update={"status": commands.status_of(row)})


@router.post("/stores/{store_id}/commands", status_code=status.HTTP_202_ACCEPTED, response_model=CommandOut)
def send_command(
    store_id: StorePath, body: CommandIn, request: Request, session: SessionDep, who: Operator
) -> CommandOut:
    """Sign and send a command to the store; its reply arrives on ``GET /commands/{correlation_id}``.

    ``args``: unlock ``{"duration_s": 1-60}``, lockdown ``{"active": bool}``, set_mode
    ``{"mode": "day"|"night"|"auto"}``, reset_occupancy ``{"count": n}``, resolve_review
    ``{"station_id": "co1", "product_id": "milk" or null to clear the holds, "quantity": n or null}``.
    """
    commands.check_store(session, store_id)
    settings = request.app.state.settings
    cmd = commands.build(
        body.name, body.args, reason=body.reason, issued_by=who.name, lifetime_s=settings.command_lifetime_s
    )
    publisher = request.app.state.downlink
    if publisher is None or not publisher.connected.is_set():
        raise Unavailable("the downlink to the stores is not connected; the command was not sent")
    row = commands.record_sent(session, store_id, cmd, role=who.role.value)
    session.commit()  # recorded before it can be answered
    if not publisher.send_command(store_id, cmd):
        raise Unavailable("the downlink to the stores disconnected; the command was not sent")
    return _out(row)


@router.get("/stores/{store_id}/commands", response_model=Page[CommandOut])
def store_commands(store_id: StorePath, session: SessionDep, _p: Staff, paging: PagingDep) -> Page[CommandOut]:
    """Commands sent to the store, newest first, with their replies."""
    get_store(session, store_id)
    query = (
        select(OperatorCommand)
        .where(OperatorCommand.store_id == store_id)
        .order_by(OperatorCommand.issued_at.desc(), OperatorCommand.correlation_id)
    )
    rows, total = paginate(session, query, paging)
    return Page(items=[_out(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/commands/{correlation_id}", response_model=CommandOut)
def command(correlation_id: CorrelationId, session: SessionDep, _p: Staff) -> CommandOut:
    """One command and the store's reply (``sent`` while it is on its way)."""
    return _out(commands.get(session, correlation_id))


@router.post("/alarms/acknowledge", response_model=AlarmOut)
def acknowledge_alarm(body: AlarmAck, session: SessionDep, who: Staff) -> AlarmOut:
    """Say that someone is on it: records who and when; a newer raise of the same alarm needs a new acknowledgement."""
    alarm = session.get(Alarm, (body.store_id, body.alarm, body.source))
    if alarm is None:
        raise NotFound(f"no alarm {body.alarm} from {body.source} at store {body.store_id}")
    if alarm.acknowledged_at is None:
        alarm.acknowledged_by = who.name
        alarm.acknowledged_at = utcnow()
        audit.record(
            session,
            actor=who.name,
            role=who.role.value,
            action="alarm.acknowledge",
            store_id=body.store_id,
            target=f"{body.alarm}/{body.source}",
            details={"active": alarm.active},
        )
        session.flush()
    return AlarmOut.model_validate(alarm)


@router.get("/stores/{store_id}/alarm-history", response_model=list[AlarmChange])
def alarm_history(
    store_id: StorePath, session: SessionDep, _p: Staff, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[AlarmChange]:
    """Every raise and clear of the store's alarms, newest first (from the events the store sent)."""
    get_store(session, store_id)
    query = (
        select(Event)
        .where(Event.store_id == store_id, Event.type.in_(("alarm_raised", "alarm_cleared")))
        .order_by(Event.ts.desc(), Event.seq.desc())
        .limit(limit)
    )
    changes = []
    for row in session.scalars(query):
        body = json.loads(row.payload)
        raised = row.type == "alarm_raised"
        changes.append(
            AlarmChange(
                alarm=str(body.get("alarm", "")),
                source=str(body.get("source", "")),
                state="raised" if raised else "cleared",
                severity=str(body.get("severity", "info")) if raised else "info",
                detail=str(body.get("detail", "")),
                ts=row.ts,
            )
        )
    return changes


@router.get("/audit", response_model=Page[AuditOut])
def audit_log(
    session: SessionDep,
    _p: Operator,
    paging: PagingDep,
    store_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
) -> Page[AuditOut]:
    """Who did what through the API and the CLI, newest first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if store_id:
        query = query.where(AuditEntry.store_id == store_id)
    rows, total = paginate(session, query, paging)
    return Page(items=[AuditOut.model_validate(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)
