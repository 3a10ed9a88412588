"""Operator commands to stores: build the signed-to-be contract message, record it, record the store's reply.

A command lives ``lifetime_s`` from when it is issued (the store refuses it after that, and after
its own cap); one that got no reply by then reads as ``unanswered``. Replies are matched on the
correlation id *and* the store the reply topic names, so one store cannot answer for another.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session

from cloud_sync.db.base import aware, utcnow
from cloud_sync.db.models import OperatorCommand, Store
from cloud_sync.services import audit
from cloud_sync.services.errors import Conflict, Invalid, NotFound
from contracts.messages import Command, CommandReply

# Names as operators type them (CLI, API) -> the contract's command name.
COMMAND_NAMES: Final = ("unlock", "lockdown", "set_mode", "reset_occupancy", "resolve_review")
_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)
_ARGS: Final[dict[str, frozenset[str]]] = {
    "unlock": frozenset({"duration_s", "door_id"}),
    "lockdown": frozenset({"active"}),
    "set_mode": frozenset({"mode"}),
    "reset_occupancy": frozenset({"count"}),
    "resolve_review": frozenset({"station_id", "product_id", "quantity"}),
}


def build(
    name: str, args: dict[str, Any], *, reason: str, issued_by: str, lifetime_s: float, now: datetime | None = None
) -> Command:
    """Return the contract command for ``name`` and ``args``, or raise ``Invalid`` naming what is wrong."""
    allowed = _ARGS.get(name)
    if allowed is None:
        raise Invalid(f"unknown command {name!r} (one of {', '.join(COMMAND_NAMES)})")
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise Invalid(f"{name} takes {', '.join(sorted(allowed))}, not {', '.join(unknown)}")
    issued = now or utcnow()
    raw = {
        **args,
        "name": name,
        "correlation_id": f"op-{uuid.uuid4().hex[:20]}",
        "issued_at": issued,
        "expires_at": issued + timedelta(seconds=lifetime_s),
        "issued_by": issued_by,
        "reason": reason,
    }
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != name) or name
        raise Invalid(f"{name}: {where}: {first.get('msg', 'invalid')}") from err


def check_store(session: Session, store_id: str) -> Store:
    """Return the store a command may be sent to (known and not retired)."""
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound(f"store {store_id!r} not found")
    if store.retired_at is not None:
        raise Conflict(f"store {store_id!r} is retired; it takes no commands")
    return store


def record_sent(session: Session, store_id: str, cmd: Command, *, role: str) -> OperatorCommand:
    """Record a command about to be published, and audit it as sent by ``cmd.issued_by`` in ``role``."""
    body = cmd.model_dump(mode="json")
    args = {k: v for k, v in body.items() if k in _ARGS[cmd.name]}
    row = OperatorCommand(
        correlation_id=cmd.correlation_id,
        store_id=store_id,
        name=cmd.name,
        args=args,
        reason=cmd.reason,
        issued_by=cmd.issued_by,
        issued_at=cmd.issued_at,
        expires_at=cmd.expires_at,
        status="sent",
    )
    session.add(row)
    audit.record(
        session,
        actor=cmd.issued_by,
        role=role,
        action=f"command.{cmd.name}",
        store_id=store_id,
        target=cmd.correlation_id,
        details={"args": args, "reason": cmd.reason},
    )
    session.flush()
    return row


def record_reply(session: Session, store_id: str, reply: CommandReply, now: datetime | None = None) -> bool:
    """Store ``reply`` on its command (first reply wins, late ones too); return whether a command matched."""
    row = session.get(OperatorCommand, reply.correlation_id)
    if row is None or row.store_id != store_id or row.name != reply.name:
        return False
    if row.replied_at is not None:
        return True  # a redelivered reply: the first one stands
    at = now or utcnow()
    row.status = reply.status
    row.reply_error = reply.error
    row.reply_data = reply.data
    row.replied_at = at
    row.latency_ms = round((at - aware(row.issued_at)).total_seconds() * 1000, 1)
    session.flush()
    return True


def mark_unanswered(session: Session, now: datetime | None = None) -> int:
    """Mark commands past their lifetime with no reply as ``unanswered``; return how many."""
    result = session.execute(
        update(OperatorCommand)
        .where(OperatorCommand.status == "sent", OperatorCommand.expires_at <= (now or utcnow()))
        .values(status="unanswered")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def status_of(row: OperatorCommand, now: datetime | None = None) -> str:
    """Return the command's status as of ``now`` (``unanswered`` even before the sweep has run)."""
    if row.status == "sent" and aware(row.expires_at) <= (now or utcnow()):
        return "unanswered"
    return row.status


def get(session: Session, correlation_id: str) -> OperatorCommand:
    """Return one command or raise ``NotFound``."""
    row = session.get(OperatorCommand, correlation_id)
    if row is None:
        raise NotFound(f"command {correlation_id!r} not found")
    return row
