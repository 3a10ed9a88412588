"""Staff credentials in the cloud: the API (operator only, audited, hashed), the staff channel, a real agent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from cloud_sync import downlink_key
from cloud_sync.config import CloudSettings
from contracts.messages import dump
from contracts.staff import StaffEntry
from tests.cloud_sync.conftest import wait_until
from tests.cloud_sync.test_downlink import live  # noqa: F401 - the app with its downlink publisher

RESTOCKER = {"store_id": "st1", "name": "Night restocker", "role": "restocker", "hours": ["22:00-06:00"]}


def _store(client: TestClient, op: dict[str, str], store_id: str = "st1") -> None:
    assert client.post("/api/v1/stores", json={"id": store_id, "name": store_id}, headers=op).status_code == 201


def test_staff_are_issued_and_revoked_by_operators_hashed_audited_and_synced(
    client: TestClient, op: dict[str, str], auth: Callable[..., dict[str, str]], engine: Engine
) -> None:
    _store(client, op)
    body = {**RESTOCKER, "id": "s-1", "card": "12:34567", "pin": "4711"}
    assert client.post("/api/v1/staff", json=body, headers=auth("technician")).status_code == 403
    made = client.post("/api/v1/staff", json=body, headers=op)
    assert made.status_code == 201, made.text
    out = made.json()
    assert (out["id"], out["role"], out["hours"], out["credentials"]) == (
        "s-1",
        "restocker",
        ["22:00-06:00"],
        ["card", "pin"],
    )
    assert "34567" not in made.text and "4711" not in made.text
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT secrets FROM staff_members WHERE id = 's-1'")).scalar_one()
    assert "34567" not in str(stored) and "4711" not in str(stored)  # never clear in the database

    snap = client.get("/api/v1/sync/staff", headers=op).json()
    assert snap["version"] == 1
    entry = StaffEntry.model_validate(snap["snapshot"]["staff"][0])
    assert entry.id == "s-1" and entry.store_id == "st1"
    assert entry.secrets[0].matches("st1", "card", "12:34567") and entry.secrets[1].matches("st1", "pin", "4711")

    listed = client.get("/api/v1/staff", params={"store_id": "st1", "revoked": False}, headers=op).json()
    assert [s["id"] for s in listed["items"]] == ["s-1"]
    revoked = client.post("/api/v1/staff/s-1/revoke", json={"reason": "left the company"}, headers=op)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.post("/api/v1/staff/s-1/revoke", json={}, headers=op).status_code == 200  # idempotent
    deltas = client.get("/api/v1/sync/staff", params={"since": 1}, headers=op).json()["deltas"]
    assert [(d["version"], d["remove_ids"]) for d in deltas] == [(2, ["s-1"])]
    assert client.get("/api/v1/sync/staff", params={"snapshot": True}, headers=op).json()["snapshot"]["staff"] == []
    audit = client.get("/api/v1/audit", params={"store_id": "st1"}, headers=op).json()["items"]
    assert [(a["action"], a["target"]) for a in audit if a["action"].startswith("staff.")] == [
        ("staff.revoke", "s-1"),
        ("staff.issue", "s-1"),
    ]


def test_bad_staff_requests_get_one_clear_error(client: TestClient, op: dict[str, str]) -> None:
    _store(client, op)
    cases = [
        ({**RESTOCKER}, 422, "card, a PIN or both"),
        ({**RESTOCKER, "card": "34567"}, 422, "facility:card"),
        ({**RESTOCKER, "pin": "12"}, 422, "4 to 8 digits"),
        ({**RESTOCKER, "pin": "1234", "hours": ["25:00-06:00"]}, 422, "hours"),
        ({**RESTOCKER, "pin": "1234", "role": "boss"}, 422, "role"),
        ({**RESTOCKER, "pin": "1234", "store_id": "nowhere"}, 404, "nowhere"),
    ]
    for body, code, words in cases:
        answer = client.post("/api/v1/staff", json=body, headers=op)
        assert answer.status_code == code, (body, answer.text)
        assert words in answer.text
    assert client.post("/api/v1/staff/s-missing/revoke", json={}, headers=op).status_code == 404
    client.post("/api/v1/staff", json={**RESTOCKER, "id": "s-1", "pin": "1234"}, headers=op)
    assert client.post("/api/v1/staff", json={**RESTOCKER, "id": "s-1", "pin": "1234"}, headers=op).status_code == 409


def test_a_revoked_staff_card_is_refused_at_a_real_door_after_the_sync(
    live: TestClient,  # noqa: F811
    op: dict[str, str],
    broker: Any,
    tmp_path: Path,
) -> None:
    from devices.pty import PtySimulatorHost
    from devices.wiegand.simulator import WiegandSimulator
    from edge_agent.bootstrap import build_agent
    from edge_agent.config import AgentSettings
    from smartstore.testing.staff import present_card
    from tests.edge_agent.conftest import agent_settings, start_sims
    from tests.edge_agent.helpers import STORE, Members

    settings: CloudSettings = live.app.state.settings  # type: ignore[attr-defined]
    assert settings.downlink_key_file is not None
    pinned = tmp_path / "agent-downlink-keys.json"
    pinned.write_bytes(dump(downlink_key.load(settings.downlink_key_file).announcement()))
    _store(live, op, STORE)
    badge = {"store_id": STORE, "name": "Restocker", "role": "restocker", "id": "s-r", "card": "12:34567"}
    assert live.post("/api/v1/staff", json=badge, headers=op).status_code == 201
    wiegand = WiegandSimulator()
    host = PtySimulatorHost(wiegand, tmp_path / "tty-wiegand").start()
    with start_sims(tmp_path) as sims:
        raw = agent_settings(tmp_path, sims, broker, Members())
        raw["downlink_keys_file"] = str(pinned)
        raw["readers"] = [{"type": "wiegand", "url": host.path}]
        agent = build_agent(AgentSettings.model_validate(raw))
        try:
            sync = agent.agent.sync
            assert sync is not None
            assert wait_until(lambda: "s-r" in sync.synced.staff, 15)
            assert all(d.wait_online(5) for d in agent.drivers if d.name.startswith("reader-"))
            stats = agent.agent.stats
            present_card(wiegand, "12:34567")
            assert wait_until(lambda: stats.staff_entries == 1, 5)
            assert live.post("/api/v1/staff/s-r/revoke", json={}, headers=op).status_code == 200
            assert wait_until(lambda: "s-r" not in sync.synced.staff, 15)
            present_card(wiegand, "12:34567", bits=34)  # the same number (a 26-bit repeat would be debounced)
            assert wait_until(lambda: stats.denied.get("unknown_credential", 0) == 1, 5)
            assert (stats.granted, stats.staff_entries, stats.downlink_refused) == (1, 1, {})
        finally:
            agent.stop()
            host.stop()
