"""Alembic migrations shipped in the package: they match the models and run both ways."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cloud_sync.db.base import Base
from cloud_sync.db.migrate import current_revision, downgrade, head_revision, upgrade
from cloud_sync.db.session import make_engine
from tests.cloud_sync.conftest import PG_URL, pg_available, with_schema


def test_migrated_schema_matches_the_models(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], diff
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_downgrade_to_base_and_upgrade_again(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url, cleanup = f"sqlite:///{tmp_path / 'm.db'}", None
    else:
        if not pg_available():
            pytest.skip("PostgreSQL not reachable")
        schema = f"cs_mig_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = with_schema(PG_URL, schema)

        def cleanup() -> None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()

    engine = make_engine(url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"events", "sales", "members", "sync_changes", "dead_letters"} <= tables
        downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
        if cleanup is not None:
            cleanup()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
