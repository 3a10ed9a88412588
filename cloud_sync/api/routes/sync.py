"""Downlink pull endpoint: what an agent missed while offline (see docs/adr/0004-downlink-sync.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud_sync.api.deps import AnyRole, OperatorOrDevice, SessionDep
from cloud_sync.api.schemas import SyncOut
from cloud_sync.services import payments, sync
from contracts.payments import PaymentReply, PaymentRequest
from contracts.sync import Channel, SyncManifest

router = APIRouter(tags=["sync"])
MAX_DELTAS = 500


@router.get("/sync/manifest", response_model=SyncManifest)
def manifest(session: SessionDep, _p: AnyRole) -> SyncManifest:
    """Current version of every channel (the same as the retained ``sync/manifest``)."""
    return sync.manifest(session)


@router.get("/sync/{channel}", response_model=SyncOut)
def pull(
    channel: Channel,
    session: SessionDep,
    _p: AnyRole,
    since: Annotated[int, Query(ge=0, le=2**62, description="The version the agent has applied.")] = 0,
    snapshot: bool = False,
) -> SyncOut:
    """Deltas after ``since``; a snapshot instead when ``since`` is 0, ahead, or too far behind."""
    version = sync.current_versions(session)[channel]
    if since == version and since > 0 and not snapshot:
        return SyncOut(channel=channel, version=version, since=since)
    deltas = (
        [] if snapshot or since == 0 or since > version else sync.changes_since(session, channel, since, MAX_DELTAS + 1)
    )
    contiguous = bool(deltas) and len(deltas) <= MAX_DELTAS and deltas[0].get("from_version") == since
    if contiguous and deltas[-1].get("version") == version:
        return SyncOut(channel=channel, version=version, since=since, deltas=deltas)
    snap = sync.build_snapshot(session, channel)
    return SyncOut(channel=channel, version=snap.version, since=since, snapshot=snap.model_dump(mode="json"))


@router.post("/payments/authorize", response_model=PaymentReply, tags=["payments"])
def authorize(body: PaymentRequest, session: SessionDep, principal: OperatorOrDevice) -> PaymentReply:
    """HTTP twin of the MQTT ``pay/request`` topic: authorise against the wallet (idempotent)."""
    principal.check_store(body.store_id)
    return payments.authorize(session, body)
