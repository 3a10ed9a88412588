"""Alembic environment: runs on the connection handed in by ``cloud_sync.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cloud_sync.db import models  # noqa: F401 - registers every table on the metadata
from cloud_sync.db.base import Base
from cloud_sync.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the given connection, or on an engine built from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():  # pragma: no cover - offline SQL generation is not used
    raise SystemExit("offline migrations are not supported; run 'smartstore cloud migrate'")
run_migrations_online()
