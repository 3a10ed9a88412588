"""Dialect-specific statements: ``INSERT ... ON CONFLICT DO NOTHING`` for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase


def _table(target: type[DeclarativeBase] | Table) -> Table:
    if isinstance(target, Table):
        return target
    table = target.__table__
    assert isinstance(table, Table)
    return table


def insert_ignore(target: type[DeclarativeBase] | Table, dialect_name: str, *index_elements: str) -> Any:
    """Return ``INSERT ... ON CONFLICT [(cols)] DO NOTHING`` for ``dialect_name``."""
    table = _table(target)
    stmt: Any
    if dialect_name == "postgresql":
        stmt = postgresql.insert(table)
    elif dialect_name == "sqlite":
        stmt = sqlite.insert(table)
    else:  # pragma: no cover - only the two supported databases
        raise ValueError(f"unsupported database dialect {dialect_name!r}")
    if index_elements:
        return stmt.on_conflict_do_nothing(index_elements=list(index_elements))
    return stmt.on_conflict_do_nothing()


def upsert(
    target: type[DeclarativeBase] | Table,
    dialect_name: str,
    index_elements: list[str],
    update_columns: list[str],
    where_newer: str | None = None,
) -> Any:
    """Return ``INSERT ... ON CONFLICT (keys) DO UPDATE SET cols`` (optionally only if newer)."""
    table = _table(target)
    stmt: Any = postgresql.insert(table) if dialect_name == "postgresql" else sqlite.insert(table)
    set_ = {c: stmt.excluded[c] for c in update_columns}
    where = None
    if where_newer is not None:
        col = table.c[where_newer]
        where = col.is_(None) | (col <= stmt.excluded[where_newer])
    return stmt.on_conflict_do_update(index_elements=index_elements, set_=set_, where=where)
