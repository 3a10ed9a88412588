"""Fast idempotent bulk inserts for the ingest hot path, one statement per table and batch.

PostgreSQL: ``INSERT ... SELECT FROM unnest(%s::type[], ...) ON CONFLICT DO NOTHING RETURNING``
(a short statement with one array per column: no per-row SQL to parse, one round trip).
SQLite: ``INSERT ... VALUES (?..),(?..) ON CONFLICT DO NOTHING RETURNING`` in chunks.
Values are converted exactly as the ORM column types store them, so ORM reads see the same data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.orm import Session

from cloud_sync.db.base import UTCDateTime

SQLITE_MAX_VARS = 32000


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_dt(value: datetime | None) -> str | None:
    v = _utc(value)
    return None if v is None else v.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _column_spec(col_type: Any, dialect: str) -> tuple[str, Callable[[Any], Any]]:
    """Return (postgres array element type, python converter) for a column type."""

    def ident(v: Any) -> Any:
        return v

    def dumps(v: Any) -> Any:
        return None if v is None else json.dumps(v, separators=(",", ":"))

    if isinstance(col_type, UTCDateTime):
        return "timestamptz", _utc if dialect == "postgresql" else _sqlite_dt
    if isinstance(col_type, Uuid):
        return "uuid", ident if dialect == "postgresql" else (lambda v: None if v is None else v.hex)
    if isinstance(col_type, JSON):
        return "text", dumps
    if isinstance(col_type, Boolean):
        return "bool", ident if dialect == "postgresql" else (lambda v: None if v is None else int(v))
    if isinstance(col_type, BigInteger):
        return "int8", ident
    if isinstance(col_type, Integer):
        return "int4", ident
    if isinstance(col_type, Float):
        return "float8", ident
    if isinstance(col_type, LargeBinary):
        return "bytea", ident
    if isinstance(col_type, String | Text):
        return "text", ident
    raise TypeError(f"no bulk conversion for column type {col_type!r}")


def insert_ignore_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] = (),
    returning: str | None = None,
) -> list[Any]:
    """Insert ``rows`` (same keys each), skipping conflicts; return ``returning`` of new rows."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    cols = list(rows[0])
    specs = [_column_spec(table.c[c].type, dialect) for c in cols]
    target = f" ({', '.join(conflict)})" if conflict else ""
    ret = f" RETURNING {returning}" if returning else ""
    conn = session.connection()
    out: list[Any] = []
    hex_uuid = bool(returning) and dialect == "sqlite" and isinstance(table.c[returning or ""].type, Uuid)

    def back(v: Any) -> Any:
        return uuid.UUID(hex=v) if hex_uuid and isinstance(v, str) else v

    if dialect == "postgresql":
        arrays = [[conv(r[c]) for r in rows] for c, (_, conv) in zip(cols, specs, strict=True)]
        unnest = ", ".join(f"%b::{t}[]" for t, _ in specs)
        select_cols = ", ".join(f"u.{c}::json" if isinstance(table.c[c].type, JSON) else f"u.{c}" for c in cols)
        # Identifiers come from the table metadata (unknown keys fail above); values are bound.
        sql = (
            f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT {select_cols} "  # noqa: S608
            f"FROM unnest({unnest}) AS u({', '.join(cols)}) ON CONFLICT{target} DO NOTHING{ret}"
        )
        result = conn.exec_driver_sql(sql, tuple(arrays))
        if returning:
            out = [r[0] for r in result]
        return out
    per_row = "(" + ", ".join("?" for _ in cols) + ")"
    chunk = max(1, SQLITE_MAX_VARS // len(cols))
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        params: list[Any] = []
        for r in part:
            params.extend(conv(r[c]) for c, (_, conv) in zip(cols, specs, strict=True))
        sql = (
            f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES {', '.join(per_row for _ in part)} "  # noqa: S608
            f"ON CONFLICT{target} DO NOTHING{ret}"
        )
        result = conn.exec_driver_sql(sql, tuple(params))
        if returning:
            out.extend(back(r[0]) for r in result)
    return out
