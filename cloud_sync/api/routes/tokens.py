"""API tokens (operators only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, status
from sqlalchemy import select

from cloud_sync.api.deps import Operator, PagingDep, SessionDep
from cloud_sync.api.pagination import paginate
from cloud_sync.api.schemas import Page, TokenCreated, TokenIn, TokenOut
from cloud_sync.db.models import ApiToken
from cloud_sync.services.tokens import create_token, revoke_token

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def create(body: TokenIn, session: SessionDep, _p: Operator) -> TokenCreated:
    """Create a token; the secret is in the answer only."""
    row, secret = create_token(session, name=body.name, role=body.role, store_id=body.store_id)
    return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=secret)


@router.get("", response_model=Page[TokenOut])
def list_tokens(session: SessionDep, _p: Operator, paging: PagingDep) -> Page[TokenOut]:
    """List tokens (never their secrets)."""
    rows, total = paginate(session, select(ApiToken).order_by(ApiToken.id), paging)
    return Page(items=[TokenOut.model_validate(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke(session: SessionDep, _p: Operator, token_id: int = Path(ge=1, le=2**31 - 1)) -> None:
    """Revoke a token."""
    if not revoke_token(session, token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"token {token_id} not found")
