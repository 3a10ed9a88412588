"""Shopper API dependencies: the session cookie and the double-submit CSRF check."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from cloud_sync.api.deps import SessionDep
from cloud_sync.db.models import Member
from cloud_sync.shopper.auth import session_member

SESSION_COOKIE = "smartstore_shop"
CSRF_COOKIE = "smartstore_shop_csrf"
CSRF_HEADER = "X-CSRF-Token"


def check_csrf(
    request: Request,
    token: Annotated[str | None, Header(alias=CSRF_HEADER, description="The value of the CSRF cookie.")] = None,
) -> None:
    """Refuse (403) a state-changing request whose header does not repeat the CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not token or not hmac.compare_digest(cookie, token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token; reload the page")


def current_shopper(request: Request, session: SessionDep) -> Member:
    """Return the member of the session cookie (401 when absent, expired or signed out)."""
    token = request.cookies.get(SESSION_COOKIE)
    member = session_member(session, token) if token else None
    if member is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "please sign in again")
    return member


def client_key(request: Request) -> str:
    """Return a digest of the caller's address, the unit of the sign-in rate limit."""
    host = request.client.host if request.client else "unknown"
    return hashlib.sha256(host.encode()).hexdigest()[:32]


Csrf = Depends(check_csrf)
ShopperDep = Annotated[Member, Depends(current_shopper)]
