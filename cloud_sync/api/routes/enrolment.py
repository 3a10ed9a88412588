"""Enrolment of store agents: tokens for operators, claim and collect for devices, retirement.

``POST /enrol`` and ``POST /enrol/{id}/collect`` take no API token: the first is authorised by the
one-time enrolment token, the second by the claiming device's signature.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.orm import Session

from cloud_sync.api.deps import Operator, SessionDep
from cloud_sync.api.routes.stores import StorePath
from cloud_sync.broker.admin import BrokerAdmin, BrokerAdminError
from cloud_sync.config import CloudSettings
from cloud_sync.db.models import StoreEnrolment
from cloud_sync.downlink_key import load_or_create
from cloud_sync.services import enrolment
from cloud_sync.services.errors import ServiceError
from cloud_sync.services.sync import build_snapshot
from cloud_sync.services.tokens import Role, create_token
from contracts.enrolment import BrokerLogin, CollectRequest, EnrolBundle, EnrolClaimed, EnrolRequest
from contracts.messages import JsonInteger, dump
from contracts.sync import IssuerKeys

router = APIRouter(tags=["enrolment"])
EnrolmentId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class EnrolmentIn(BaseModel):
    """Ask for an enrolment token."""

    model_config = ConfigDict(extra="forbid")
    ttl_hours: Annotated[int, Field(ge=1, le=24 * 7), JsonInteger] = 24
    replace: StrictBool = Field(
        default=False, description="retire the store's current agent when the new one is confirmed"
    )


class EnrolmentOut(BaseModel):
    """A new enrolment token: shown this once, only its hash is kept."""

    enrolment_id: str
    store_id: str
    token: str
    expires_at: datetime


class ConfirmIn(BaseModel):
    """The pairing code shown on the store's screen."""

    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(pattern=r"^\s*[0-9]{6}\s*$")]


class ConfirmOut(BaseModel):
    """A confirmed enrolment."""

    store_id: str
    detail: str


class BrokerUnavailable(ServiceError):
    """The broker did not take the new identity: nothing was confirmed."""

    status = 503


def make_provisioner(settings: CloudSettings) -> enrolment.Provisioner:
    """Return the provisioner: broker login, device token and trusted keys for a confirmed agent."""

    def provision(row: StoreEnrolment, session: Session) -> EnrolBundle:
        store_id = row.store_id
        username = password = None
        admin = BrokerAdmin.from_settings(settings)
        if admin is not None:
            try:
                with admin:
                    identity = admin.create_store(store_id)
            except BrokerAdminError as err:
                raise BrokerUnavailable(f"the broker did not take the store's login: {err}") from err
            username, password = identity.username, identity.password
        keys = build_snapshot(session, "keys")
        assert isinstance(keys, IssuerKeys)
        _token, secret = create_token(session, name=f"agent {store_id}", role=Role.DEVICE, store_id=store_id)
        ca_pem = Path(settings.mqtt_ca_file).read_text() if settings.mqtt_ca_file else None
        return EnrolBundle(
            store_id=store_id,
            broker=BrokerLogin(
                host=settings.broker_public_host or settings.mqtt_host,
                port=settings.broker_public_port or settings.mqtt_port,
                username=username,
                password=password,
                ca_pem=ca_pem,
            ),
            issuer_keys=dict(keys.keys),
            downlink_keys=json.loads(dump(load_or_create(settings.downlink_key_file).announcement())),
            api_token=secret,
            cloud_url=settings.public_url or "",
        )

    return provision


@router.post("/stores/{store_id}/enrolments", status_code=status.HTTP_201_CREATED, response_model=EnrolmentOut)
def create_enrolment(store_id: StorePath, body: EnrolmentIn, session: SessionDep, _p: Operator) -> EnrolmentOut:
    """Issue a one-time enrolment token for a store (earlier unfinished ones are cancelled)."""
    issued = enrolment.issue(session, store_id, ttl=timedelta(hours=body.ttl_hours), replace=body.replace)
    return EnrolmentOut(
        enrolment_id=issued.enrolment.id,
        store_id=store_id,
        token=issued.token,
        expires_at=issued.enrolment.expires_at,
    )


@router.post("/enrol", response_model=EnrolClaimed)
def claim(body: EnrolRequest, session: SessionDep) -> EnrolClaimed:
    """A new agent presents its token and public key; the pairing code is now on its screen."""
    row = enrolment.claim(session, body)
    return EnrolClaimed(enrolment_id=row.id, store_id=row.store_id, expires_at=row.expires_at.isoformat())


@router.post(
    "/enrol/{enrolment_id}/collect",
    response_model=EnrolBundle,
    responses={202: {"description": "waiting for the operator to confirm the pairing code"}},
)
def collect(enrolment_id: EnrolmentId, body: CollectRequest, session: SessionDep) -> EnrolBundle | JSONResponse:
    """The confirmed device collects its bundle once (202 while it waits for the operator)."""
    bundle = enrolment.collect(session, enrolment_id, body)
    if bundle is None:
        return JSONResponse({"state": "claimed", "detail": "waiting for the pairing code"}, status.HTTP_202_ACCEPTED)
    return bundle


@router.post("/stores/{store_id}/enrolments/confirm", response_model=ConfirmOut)
def confirm(store_id: StorePath, body: ConfirmIn, request: Request, session: SessionDep, _p: Operator) -> ConfirmOut:
    """Confirm the pairing code read off the store's screen (wrong codes count, then burn the token)."""
    result = enrolment.confirm(session, store_id, body.code, make_provisioner(request.app.state.settings))
    if not result.accepted:
        session.commit()  # the counted attempt (or the burnt token) stays
        raise enrolment.EnrolmentRefused(result.detail)
    return ConfirmOut(store_id=store_id, detail=result.detail)


@router.post("/stores/{store_id}/retire", response_model=ConfirmOut)
def retire(store_id: StorePath, request: Request, session: SessionDep, _p: Operator) -> ConfirmOut:
    """Retire a store's agent: its broker login and API tokens stop working at once."""
    settings: CloudSettings = request.app.state.settings
    enrolment.retire(session, store_id)
    admin = BrokerAdmin.from_settings(settings)
    if admin is not None:
        try:
            with admin:
                admin.retire_store(store_id)
        except BrokerAdminError as err:
            raise BrokerUnavailable(f"the broker did not drop the store's login: {err}") from err
    return ConfirmOut(store_id=store_id, detail="agent retired: broker login and API tokens revoked")
