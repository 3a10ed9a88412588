"""Staff credentials: issue and revoke cards and PINs for a store's restockers, cleaners and managers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from cloud_sync.api.deps import Operator, PagingDep, SessionDep
from cloud_sync.api.pagination import paginate
from cloud_sync.api.schemas import Ident, Name, Page, StoreId, Text
from cloud_sync.db.staff_models import StaffMember
from cloud_sync.services import staff
from contracts.staff import TIME_RANGE, StaffRole, check_value

router = APIRouter(tags=["staff"])
StaffPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


def _card(value: str) -> str:
    return check_value("card", value)


def _pin(value: str) -> str:
    return check_value("pin", value)


class StaffIn(BaseModel):
    """Issue a staff member: a card (``facility:card``) and/or a PIN, hashed before they are stored."""

    model_config = ConfigDict(extra="forbid")

    id: Ident | None = None
    store_id: StoreId
    name: Name
    role: StaffRole
    hours: list[Annotated[str, Field(pattern=TIME_RANGE)]] = Field(
        default_factory=list, max_length=8, description="Local-time ranges like 22:00-06:00; empty: any time."
    )
    card: Annotated[str, AfterValidator(_card)] | None = None
    pin: Annotated[str, AfterValidator(_pin)] | None = None

    @model_validator(mode="after")
    def _a_credential(self) -> StaffIn:
        if self.card is None and self.pin is None:
            raise ValueError("give the staff member a card, a PIN or both")
        return self


class StaffRevokeIn(BaseModel):
    """Why the credentials are withdrawn."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = ""


class StaffOut(BaseModel):
    """A staff member (the card and PIN are never returned: only their kinds)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    store_id: str
    name: str
    role: str
    hours: list[str]
    credentials: list[Literal["card", "pin"]]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_reason: str | None


def _out(row: StaffMember) -> StaffOut:
    return StaffOut(
        id=row.id,
        store_id=row.store_id,
        name=row.name,
        role=row.role,
        hours=row.hours,
        credentials=[s["kind"] for s in row.secrets],
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


@router.post("/staff", status_code=status.HTTP_201_CREATED, response_model=StaffOut)
def issue_staff(body: StaffIn, session: SessionDep, who: Operator) -> StaffOut:
    """Issue a staff card and/or PIN for one store; it reaches the store on the ``staff`` channel."""
    credentials = {k: v for k, v in (("card", body.card), ("pin", body.pin)) if v is not None}
    row = staff.issue(
        session,
        store_id=body.store_id,
        name=body.name,
        role=body.role,
        hours=body.hours,
        credentials=credentials,  # type: ignore[arg-type]
        actor=who.name,
        actor_role=who.role.value,
        staff_id=body.id,
    )
    return _out(row)


@router.get("/staff", response_model=Page[StaffOut])
def list_staff(
    session: SessionDep,
    _p: Operator,
    paging: PagingDep,
    store_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    revoked: bool | None = None,
) -> Page[StaffOut]:
    """List staff members, by store and whether they are revoked."""
    query = select(StaffMember).order_by(StaffMember.store_id, StaffMember.id)
    if store_id:
        query = query.where(StaffMember.store_id == store_id)
    if revoked is not None:
        query = query.where(StaffMember.revoked_at.is_not(None) if revoked else StaffMember.revoked_at.is_(None))
    rows, total = paginate(session, query, paging)
    return Page(items=[_out(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/staff/{staff_id}", response_model=StaffOut)
def get_staff(staff_id: StaffPath, session: SessionDep, _p: Operator) -> StaffOut:
    """One staff member."""
    return _out(staff.get_staff(session, staff_id))


@router.post("/staff/{staff_id}/revoke", response_model=StaffOut)
def revoke_staff(staff_id: StaffPath, body: StaffRevokeIn, session: SessionDep, who: Operator) -> StaffOut:
    """Withdraw a staff member's card and PIN at their store (the next ``staff`` delta), audited."""
    return _out(staff.revoke(session, staff_id, reason=body.reason, actor=who.name, actor_role=who.role.value))
