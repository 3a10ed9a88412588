"""FastAPI dependencies: database session per request, token authentication and roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.services.tokens import Role, authenticate

COOKIE_NAME = "smartstore_token"
bearer = HTTPBearer(auto_error=False, description="API token (``sst_...``) from ``smartstore cloud token create``.")


def get_session(request: Request) -> Iterator[Session]:
    """Yield a session; commit if the handler succeeded, then wake the downlink publisher."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
        if session.info.pop("sync_changed", False):
            publisher = getattr(request.app.state, "downlink", None)
            if publisher is not None:
                publisher.wake()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]  # commit before responding


def get_key_passphrase(request: Request) -> bytes | None:
    """Return the passphrase that unlocks the issuer keys (``CLOUD_KEY_PASSPHRASE``)."""
    passphrase: bytes | None = request.app.state.settings.key_passphrase_bytes()
    return passphrase


KeyPassphrase = Annotated[bytes | None, Depends(get_key_passphrase)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: token id, role, and the store a device token is bound to."""

    token_id: int
    name: str
    role: Role
    store_id: str | None

    def check_store(self, store_id: str) -> None:
        """Refuse (403) a store-bound token acting on another store."""
        if self.store_id is not None and self.store_id != store_id:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token is bound to store {self.store_id!r}")


def _secret(request: Request, creds: HTTPAuthorizationCredentials | None) -> str | None:
    if creds is not None and creds.scheme.lower() == "bearer":
        return creds.credentials
    return request.cookies.get(COOKIE_NAME)


def current_principal(
    request: Request,
    session: SessionDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Authenticate the bearer token (or the dashboard cookie)."""
    secret = _secret(request, creds)
    if not secret:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    row = authenticate(session, secret)
    if row is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
    return Principal(row.id, row.name, Role(row.role), row.store_id)


def require(*roles: Role) -> Callable[..., Principal]:
    """Return a dependency admitting only ``roles``."""
    allowed = set(roles)

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role.value!r} may not do this (needs {names})"
            )
        return principal

    return dependency


Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Staff = Annotated[Principal, Depends(require(Role.OPERATOR, Role.TECHNICIAN))]
AnyRole = Annotated[Principal, Depends(require(Role.OPERATOR, Role.TECHNICIAN, Role.DEVICE))]
OperatorOrDevice = Annotated[Principal, Depends(require(Role.OPERATOR, Role.DEVICE))]


@dataclass(frozen=True)
class Paging:
    """Limit/offset pagination."""

    limit: int
    offset: int


def paging(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")] = 0,
) -> Paging:
    """Return the pagination query parameters."""
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(paging)]
