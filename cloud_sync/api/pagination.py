"""Run a select as one page plus its total count."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cloud_sync.api.deps import Paging
from cloud_sync.api.schemas import Page

T = TypeVar("T", bound=BaseModel)


def paginate(session: Session, query: Select[Any], paging: Paging) -> tuple[list[Any], int]:
    """Return (rows of this page, total rows) of ``query`` (already ordered)."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.limit(paging.limit).offset(paging.offset)).all()
    return list(rows), int(total)


def page_of(session: Session, query: Select[Any], paging: Paging, schema: type[T]) -> Page[T]:
    """Return one page of ``query`` with every row validated into ``schema``."""
    rows, total = paginate(session, query, paging)
    return Page[schema](  # type: ignore[valid-type]
        items=[schema.model_validate(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset
    )
