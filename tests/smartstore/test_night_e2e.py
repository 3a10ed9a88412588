"""A short night on the whole real system, on SQLite and on PostgreSQL.

agent -> broker -> ingest -> database, and API -> downlink -> agent: one grant, one sale paid from
the wallet, one revocation refused, one command answered, all asserted in the cloud database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from cloud_sync.db.session import make_engine
from smartstore.demo import STORE, Night
from smartstore.demo_checkout import FALLBACK, ITEMS
from smartstore.stack import Stack

PG_SERVER = os.environ.get("SMARTSTORE_TEST_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each backend (PostgreSQL: a database of its own, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.db'}"
        return
    name = f"smartstore_night_{uuid.uuid4().hex[:10]}"
    admin = make_engine(f"{PG_SERVER}/postgres?connect_timeout=3").execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # no server: skip, as the cloud tests do
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_SERVER}: {err.__class__.__name__}")
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_short_night_reaches_the_cloud_and_the_cloud_reaches_the_store(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing depends on the working directory
    lines: list[str] = []
    stack = Stack(tmp_path / "cloud", database_url=database_url)
    night: Night | None = None
    try:
        stack.start()
        night = Night(stack, lines.append, tmp_path, products=list(FALLBACK))
        night.set_up()
        phones = night.phones
        juice = night.checkout.products[ITEMS["juice"]]

        assert night.door(phones["alice"].code()) == "granted"
        night.walk_in()
        basket = night.checkout.shop(lines.append, "alice", phones["alice"].next_code(), ["juice"])
        assert basket.paid, lines[-8:]
        night.revoke("carol")
        assert night.door(phones["carol"].code()) == "revoked"
        reply = night.command("unlock", {"duration_s": 1}, "delivery at the door")
        assert reply["status"] == "ok" and reply["replied_at"] is not None
        summary = night.finish()

        rows = stack.rows
        entries = rows("SELECT member_id, granted, reason, via FROM entries WHERE store_id = :s ORDER BY ts", s=STORE)
        decisions = [(m, bool(g), r) for m, g, r, _via in entries]
        assert decisions == [("alice", True, None), ("carol", False, "revoked"), (None, True, None)]  # last: remote
        assert entries[-1][3] != entries[0][3]  # the remote unlock is told apart from a member's code
        sales = rows(
            "SELECT member_id, total_cents, payment_mode, authorization_id FROM sales WHERE store_id = :s", s=STORE
        )
        assert len(sales) == 1
        member, total, mode, authorization = sales[0]
        assert (member, total, mode) == ("alice", juice.price_cents, "online") and authorization
        payments = rows("SELECT status, amount_cents, authorization_id FROM payments WHERE store_id = :s", s=STORE)
        assert [tuple(p) for p in payments] == [("approved", juice.price_cents, authorization)]
        assert rows("SELECT balance_cents FROM members WHERE id = 'alice'")[0][0] == 10_000 - (juice.price_cents or 0)
        assert rows("SELECT revoked_at FROM members WHERE id = 'carol'")[0][0] is not None
        commands = rows("SELECT name, status FROM operator_commands WHERE store_id = :s", s=STORE)
        assert [tuple(c) for c in commands] == [("unlock", "ok")]
        assert summary["lost"] == 0 and summary["events_written"] == summary["events_in_cloud"] > 0
        assert summary["dead_letters"] == 0
    finally:
        stack.close()
        if night is not None:
            night.stop()
