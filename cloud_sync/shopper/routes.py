"""The shopper API under ``/api/shop`` (tag ``shopper``): sign-in, the phone's pass, wallet, orders, receipts."""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import select

from cloud_sync.api.deps import KeyPassphrase, SessionDep
from cloud_sync.api.schemas import OrderOut, WalletEntryOut
from cloud_sync.db.models import Order, WalletEntry
from cloud_sync.db.shopper_models import ShopperContact
from cloud_sync.services import inventory, members
from cloud_sync.services.errors import Invalid, PaymentRequired
from cloud_sync.shopper import auth, service
from cloud_sync.shopper.deps import CSRF_COOKIE, SESSION_COOKIE, Csrf, ShopperDep, client_key
from cloud_sync.shopper.schemas import (
    CodeRequestIn,
    CodeRequestOut,
    CsrfOut,
    MeOut,
    PassOut,
    PassStatusOut,
    PhoneIn,
    ProductOut,
    ReceiptOut,
    ShopOrderIn,
    ShopWalletOut,
    SignInIn,
    StoreOut,
    TopUpIn,
    TopUpOut,
)

router = APIRouter(prefix="/api/shop", tags=["shopper"])
PhoneKeyQuery = Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$", description="This phone's key (hex).")]


def _cookie(request: Request, response: Response, name: str, value: str, *, http_only: bool, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        httponly=http_only,
        samesite="strict",
        secure=request.app.state.settings.cookie_secure,
        max_age=max_age,
        path="/",
    )


@router.get("/csrf", response_model=CsrfOut)
def csrf(request: Request, response: Response) -> CsrfOut:
    """Return the CSRF value (and set its cookie): send it back in ``X-CSRF-Token`` on every POST."""
    value = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    _cookie(request, response, CSRF_COOKIE, value, http_only=False, max_age=365 * 86400)
    return CsrfOut(csrf=value)


@router.post("/codes", status_code=status.HTTP_202_ACCEPTED, response_model=CodeRequestOut, dependencies=[Csrf])
def request_code(body: CodeRequestIn, request: Request, session: SessionDep) -> CodeRequestOut:
    """Send a one-time code to an e-mail address or phone number (429 when asked too often)."""
    settings = request.app.state.settings
    expires = auth.request_code(
        session,
        request.app.state.shopper_sender,
        body.contact,
        client=client_key(request),
        ttl_s=settings.shopper_code_ttl_s,
        per_contact=settings.shopper_codes_per_contact,
        per_client=settings.shopper_codes_per_client,
    )
    return CodeRequestOut(sent_to=auth.normalise_contact(body.contact)[1], expires_at=expires)


@router.post("/sessions", status_code=status.HTTP_201_CREATED, response_model=MeOut, dependencies=[Csrf])
def sign_in(body: SignInIn, request: Request, response: Response, session: SessionDep) -> MeOut:
    """Sign in, or join when the contact is new, with the code that was sent (401 wrong or expired code)."""
    settings = request.app.state.settings
    try:
        signed = auth.verify_code(session, body.contact, body.code, session_hours=settings.shopper_session_hours)
    except auth.SignInRefused:
        session.commit()  # the wrong attempt counts
        raise
    _cookie(
        request, response, SESSION_COOKIE, signed.token, http_only=True, max_age=settings.shopper_session_hours * 3600
    )
    _cookie(request, response, CSRF_COOKIE, secrets.token_urlsafe(24), http_only=False, max_age=365 * 86400)
    member = members.get_member(session, signed.member_id)
    return MeOut(
        member_id=member.id,
        contact=auth.normalise_contact(body.contact)[1],
        joined=signed.joined,
        balance_cents=member.balance_cents,
        revoked=member.revoked_at is not None,
    )


@router.post("/sessions/end", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Csrf])
def sign_out(request: Request, session: SessionDep) -> Response:
    """End this session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.end_session(session, token)
    out = Response(status_code=status.HTTP_204_NO_CONTENT)
    out.delete_cookie(SESSION_COOKIE, path="/")
    return out


@router.get("/me", response_model=MeOut)
def me(member: ShopperDep, session: SessionDep) -> MeOut:
    """The signed-in shopper."""
    contact = session.scalar(select(ShopperContact.address).where(ShopperContact.member_id == member.id))
    return MeOut(
        member_id=member.id, contact=contact, balance_cents=member.balance_cents, revoked=member.revoked_at is not None
    )


def _raw_key(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise Invalid("the phone key is not base64") from err


@router.post("/me/pass", status_code=status.HTTP_201_CREATED, response_model=PassOut, dependencies=[Csrf])
def get_pass(
    body: PhoneIn, request: Request, member: ShopperDep, session: SessionDep, passphrase: KeyPassphrase
) -> PassOut:
    """Put the pass on this phone (or renew it); another phone's pass is revoked (409 when revoked)."""
    signed, nbf, exp, phone = service.register_phone(
        session,
        member,
        phone_key=_raw_key(body.public_key),
        label=body.label,
        valid_s=request.app.state.settings.shopper_pass_valid_s,
        passphrase=passphrase,
    )
    return PassOut(
        member_id=member.id,
        signed_pass_b64=base64.b64encode(signed).decode(),
        not_before=nbf,
        expires_at=exp,
        phone_label=phone.label,
        phone_since=phone.registered_at,
    )


@router.get("/me/pass", response_model=PassStatusOut)
def pass_status(member: ShopperDep, session: SessionDep, phone_key: PhoneKeyQuery = None) -> PassStatusOut:
    """Whether this phone's pass still opens doors, and which phone holds the pass."""
    return PassStatusOut(**service.pass_status(session, member, phone_key))


@router.get("/stores", response_model=list[StoreOut])
def stores(_m: ShopperDep, session: SessionDep) -> list[StoreOut]:
    """The stores (id and name)."""
    return [StoreOut(**s) for s in service.store_list(session)]


@router.get("/stores/{store_id}/products", response_model=list[ProductOut])
def products(store_id: str, _m: ShopperDep, session: SessionDep) -> list[ProductOut]:
    """What can be ordered in this store now."""
    return [ProductOut(**p) for p in service.store_products(session, store_id)]


@router.get("/me/wallet", response_model=ShopWalletOut)
def wallet(member: ShopperDep, session: SessionDep) -> ShopWalletOut:
    """Balance and the 50 newest movements."""
    rows = session.scalars(
        select(WalletEntry).where(WalletEntry.member_id == member.id).order_by(WalletEntry.id.desc()).limit(50)
    ).all()
    return ShopWalletOut(balance_cents=member.balance_cents, entries=[WalletEntryOut.model_validate(r) for r in rows])


@router.post("/me/wallet/topups", status_code=status.HTTP_201_CREATED, response_model=TopUpOut, dependencies=[Csrf])
def top_up(body: TopUpIn, request: Request, member: ShopperDep, session: SessionDep) -> TopUpOut:
    """Add money through the payment provider (402 when it declines)."""
    try:
        row, entry = service.top_up(
            session, request.app.state.shopper_payments, member, body.amount_cents, body.idempotency_key
        )
    except PaymentRequired:
        session.commit()  # keep the declined attempt
        raise
    return TopUpOut(
        amount_cents=entry.amount_cents, provider_ref=row.provider_ref or "", balance_cents=entry.balance_after
    )


@router.post("/me/orders", status_code=status.HTTP_201_CREATED, response_model=OrderOut, dependencies=[Csrf])
def place_order(body: ShopOrderIn, request: Request, member: ShopperDep, session: SessionDep) -> OrderOut:
    """Reserve products for pickup, paid from the wallet (409 not enough stock, 402 balance too low)."""
    order = inventory.create_order(
        session,
        store_id=body.store_id,
        member_id=member.id,
        lines=[(line.product_id, line.quantity) for line in body.lines],
        pickup_by=None,
        hold_hours=request.app.state.settings.order_hold_hours,
    )
    return OrderOut(**inventory.order_view(session, order))


@router.get("/me/orders", response_model=list[OrderOut])
def my_orders(member: ShopperDep, session: SessionDep) -> list[OrderOut]:
    """The shopper's orders, newest first, with their state and pickup time."""
    inventory.expire_orders(session)
    rows = session.scalars(
        select(Order).where(Order.member_id == member.id).order_by(Order.created_at.desc()).limit(50)
    ).all()
    return [OrderOut(**inventory.order_view(session, o)) for o in rows]


@router.get("/me/orders/{order_id}", response_model=OrderOut)
def my_order(order_id: uuid.UUID, member: ShopperDep, session: SessionDep) -> OrderOut:
    """One of the shopper's orders."""
    return OrderOut(**service.own_order(session, member, order_id))


@router.get("/me/receipts", response_model=list[ReceiptOut])
def my_receipts(member: ShopperDep, session: SessionDep) -> list[ReceiptOut]:
    """The shopper's paid baskets, newest first."""
    return [ReceiptOut(**r) for r in service.receipts(session, member.id)]
