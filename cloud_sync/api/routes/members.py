"""Members, member passes, revocation, wallet, issuer keys and coupons."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from sqlalchemy import select

from cloud_sync.api.deps import AnyRole, KeyPassphrase, Operator, PagingDep, SessionDep
from cloud_sync.api.pagination import paginate
from cloud_sync.api.schemas import (
    CouponIn,
    CouponOut,
    IssuerKeyOut,
    MemberIn,
    MemberOut,
    Page,
    PassIn,
    PassOut,
    RevokeIn,
    TopUpIn,
    WalletEntryOut,
    WalletOut,
)
from cloud_sync.db.models import CouponRow, IssuerKeyRow, Member, WalletEntry
from cloud_sync.services import catalog, members
from cloud_sync.services.sync import build_snapshot
from cloud_sync.services.wallet import wallet_move
from contracts.sync import IssuerKeys

router = APIRouter(tags=["members"])
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
KidPath = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


@router.post("/members", status_code=status.HTTP_201_CREATED, response_model=MemberOut)
def register_member(body: MemberIn, session: SessionDep, _p: Operator) -> MemberOut:
    """Register a member (``id`` generated if omitted); the wallet starts at 0."""
    member = members.create_member(session, member_id=body.id, name=body.name, tier=body.tier, phone=body.phone)
    return MemberOut.model_validate(member)


@router.get("/members", response_model=Page[MemberOut])
def list_members(
    session: SessionDep,
    _p: Operator,
    paging: PagingDep,
    revoked: bool | None = None,
    q: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
) -> Page[MemberOut]:
    """List members (filter ``revoked``, or ``q`` in id or name)."""
    query = select(Member).order_by(Member.id)
    if revoked is not None:
        query = query.where(Member.revoked_at.is_not(None) if revoked else Member.revoked_at.is_(None))
    if q:
        query = query.where(Member.id.contains(q, autoescape=True) | Member.name.contains(q, autoescape=True))
    rows, total = paginate(session, query, paging)
    return Page(
        items=[MemberOut.model_validate(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset
    )


@router.get("/members/{member_id}", response_model=MemberOut)
def get_member(member_id: IdPath, session: SessionDep, _p: Operator) -> MemberOut:
    """One member."""
    return MemberOut.model_validate(members.get_member(session, member_id))


@router.post("/members/{member_id}/passes", status_code=status.HTTP_201_CREATED, response_model=PassOut)
def issue_pass(
    member_id: IdPath, body: PassIn, session: SessionDep, _p: Operator, passphrase: KeyPassphrase
) -> PassOut:
    """Sign a member pass for the phone's public key; the phone turns it into rotating codes."""
    kid, signed, nbf, exp = members.issue_pass(session, member_id, body.phone_public_key, body.valid_s, passphrase)
    return PassOut(
        member_id=member_id, kid=kid, signed_pass_b64=base64.b64encode(signed).decode(), not_before=nbf, expires_at=exp
    )


@router.post("/members/{member_id}/revoke", response_model=MemberOut)
def revoke_member(member_id: IdPath, body: RevokeIn, session: SessionDep, _p: Operator) -> MemberOut:
    """Revoke a member (or one ``phone_key``); every online store learns it within seconds."""
    return MemberOut.model_validate(members.revoke(session, member_id, reason=body.reason, phone_key=body.phone_key))


@router.post("/members/{member_id}/reinstate", response_model=MemberOut)
def reinstate_member(member_id: IdPath, session: SessionDep, _p: Operator) -> MemberOut:
    """Lift a member revocation."""
    return MemberOut.model_validate(members.reinstate(session, member_id))


@router.post("/members/{member_id}/wallet/topups", status_code=status.HTTP_201_CREATED, response_model=WalletEntryOut)
def top_up(member_id: IdPath, body: TopUpIn, session: SessionDep, _p: Operator) -> WalletEntryOut:
    """Add money to the wallet; repeating the same ``reference`` does not add it twice."""
    entry, _new = wallet_move(session, member_id, body.amount_cents, kind="topup", reference=body.reference)
    return WalletEntryOut.model_validate(entry)


@router.get("/members/{member_id}/wallet", response_model=WalletOut)
def wallet(member_id: IdPath, session: SessionDep, _p: Operator, paging: PagingDep) -> WalletOut:
    """Balance and movements, newest first."""
    member = members.get_member(session, member_id)
    rows, total = paginate(
        session, select(WalletEntry).where(WalletEntry.member_id == member_id).order_by(WalletEntry.id.desc()), paging
    )
    return WalletOut(
        member_id=member_id,
        balance_cents=member.balance_cents,
        entries=Page(
            items=[WalletEntryOut.model_validate(r) for r in rows],
            total=total,
            limit=paging.limit,
            offset=paging.offset,
        ),
    )


# ------------------------------------------------------------------------- issuer keys


def _key_out(row: IssuerKeyRow) -> IssuerKeyOut:
    return IssuerKeyOut(
        kid=row.kid, public_key_b64=row.public_b64, created_at=row.created_at, retired_at=row.retired_at
    )


@router.post("/issuer-keys", status_code=status.HTTP_201_CREATED, response_model=IssuerKeyOut, tags=["keys"])
def create_issuer_key(session: SessionDep, _p: Operator, passphrase: KeyPassphrase) -> IssuerKeyOut:
    """Generate a new pass-signing key (the private key never leaves the server)."""
    return _key_out(members.create_issuer_key(session, passphrase))


@router.get("/issuer-keys", response_model=list[IssuerKeyOut], tags=["keys"])
def list_issuer_keys(session: SessionDep, _p: Operator) -> list[IssuerKeyOut]:
    """Every key, active and retired."""
    return [_key_out(r) for r in session.scalars(select(IssuerKeyRow).order_by(IssuerKeyRow.created_at))]


@router.get("/issuer-keys/public", response_model=IssuerKeys, tags=["keys"])
def public_keys(session: SessionDep, _p: AnyRole) -> IssuerKeys:
    """The trusted public keys as stores load them (``contracts.sync.IssuerKeys``)."""
    snap = build_snapshot(session, "keys")
    assert isinstance(snap, IssuerKeys)
    return snap


@router.post("/issuer-keys/{kid}/retire", response_model=IssuerKeyOut, tags=["keys"])
def retire_issuer_key(kid: KidPath, session: SessionDep, _p: Operator) -> IssuerKeyOut:
    """Stop trusting a key (passes it signed stop working at the stores)."""
    return _key_out(members.retire_issuer_key(session, kid))


# ----------------------------------------------------------------------------- coupons


@router.post("/coupons", status_code=status.HTTP_201_CREATED, response_model=CouponOut, tags=["coupons"])
def create_coupon(body: CouponIn, session: SessionDep, _p: Operator) -> CouponOut:
    """Issue a coupon bound to a member (redeemable once, in any store)."""
    return CouponOut.model_validate(catalog.create_coupon(session, body.model_dump()))


@router.get("/coupons", response_model=Page[CouponOut], tags=["coupons"])
def list_coupons(
    session: SessionDep,
    _p: Operator,
    paging: PagingDep,
    member_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    state: Literal["open", "redeemed", "revoked"] | None = None,
) -> Page[CouponOut]:
    """List coupons, by member and state."""
    query = select(CouponRow).order_by(CouponRow.created_at, CouponRow.id)
    if member_id:
        query = query.where(CouponRow.member_id == member_id)
    if state == "open":
        query = query.where(CouponRow.redeemed_at.is_(None), CouponRow.revoked_at.is_(None))
    elif state == "redeemed":
        query = query.where(CouponRow.redeemed_at.is_not(None))
    elif state == "revoked":
        query = query.where(CouponRow.revoked_at.is_not(None))
    rows, total = paginate(session, query, paging)
    return Page(
        items=[CouponOut.model_validate(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset
    )


@router.post("/coupons/{coupon_id}/revoke", response_model=CouponOut, tags=["coupons"])
def revoke_coupon(coupon_id: IdPath, session: SessionDep, _p: Operator) -> CouponOut:
    """Withdraw an unredeemed coupon."""
    return CouponOut.model_validate(catalog.revoke_coupon(session, coupon_id))
