"""Dialect-specific statements for SQLite and PostgreSQL, chosen here and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

from cloud_sync.db.base import table_of


def insert(target: type[DeclarativeBase] | Table, dialect_name: str) -> Any:
    """Return the dialect's ``INSERT`` (with ``on_conflict_do_*`` and ``excluded``) for ``target``."""
    table = table_of(target)
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database dialect {dialect_name!r}")  # pragma: no cover - two databases only


def insert_ignore(target: type[DeclarativeBase] | Table, dialect_name: str, *index_elements: str) -> Any:
    """Return ``INSERT ... ON CONFLICT [(cols)] DO NOTHING`` for ``dialect_name``."""
    stmt = insert(target, dialect_name)
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
    table = table_of(target)
    stmt: Any = postgresql.insert(table) if dialect_name == "postgresql" else sqlite.insert(table)
    set_ = {c: stmt.excluded[c] for c in update_columns}
    where = None
    if where_newer is not None:
        col = table.c[where_newer]
        where = col.is_(None) | (col <= stmt.excluded[where_newer])
    return stmt.on_conflict_do_update(index_elements=index_elements, set_=set_, where=where)


def lock_members(session: Session, member_ids: Sequence[str]) -> None:
    """Lock the rows of ``member_ids`` (sorted) until the commit; SQLite's writer lock already does."""
    if member_ids and session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql(
            "SELECT id FROM members WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (list(member_ids),)
        )


def debit_balances(session: Session, member_ids: Sequence[str], amounts: Sequence[int]) -> None:
    """Subtract ``amounts`` from the balances of ``member_ids`` (sorted, no repeats), one statement.

    PostgreSQL locks the member rows in id order first, so concurrent writers never deadlock.
    """
    ids, totals = list(member_ids), list(amounts)
    conn = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT id FROM members WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (ids,))
        conn.exec_driver_sql(
            "UPDATE members AS m SET balance_cents = m.balance_cents - v.total "
            "FROM unnest(%s::text[], %s::int8[]) AS v(id, total) WHERE m.id = v.id",
            (ids, totals),
        )
    else:
        conn.exec_driver_sql(
            "UPDATE members SET balance_cents = balance_cents - ? WHERE id = ?",
            [(t, m) for m, t in zip(ids, totals, strict=True)],
        )
