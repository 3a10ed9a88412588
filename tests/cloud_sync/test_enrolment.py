"""Enrolment through the API on both databases: tokens, pairing codes, one-time bundles, retirement."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from nacl.signing import SigningKey
from sqlalchemy import Engine, update

from cloud_sync.db.models import StoreEnrolment
from cloud_sync.db.session import make_session_factory
from cloud_sync.services.errors import Invalid
from cloud_sync.services.tokens import Role, create_token
from contracts.enrolment import EnrolBundle, pairing_code, sign_collect
from tests.cloud_sync.conftest import count

API = "/api/v1"


class Device:
    """A new agent's side of the handshake."""

    def __init__(self, client: TestClient) -> None:
        """Make the device's own key."""
        self.client = client
        self.key = SigningKey.generate()
        self.public = self.key.verify_key.encode().hex()
        self.enrolment_id = ""
        self.code = ""

    def claim(self, token: str) -> Any:
        """Present the token; remember the pairing code on success."""
        r = self.client.post(
            f"{API}/enrol", json={"token": token, "device_key": self.public, "hardware": {"model": "Pi 4"}}
        )
        if r.status_code == 200:
            self.enrolment_id = r.json()["enrolment_id"]
            self.code = pairing_code(token, self.public, self.enrolment_id)
        return r

    def collect(self, key: SigningKey | None = None, ts: int | None = None) -> Any:
        """Ask for the bundle, signed by this device (or by ``key``)."""
        body = sign_collect(key or self.key, self.enrolment_id, ts).model_dump()
        return self.client.post(f"{API}/enrol/{self.enrolment_id}/collect", json=body)


@pytest.fixture
def new_store(client: TestClient, op: dict[str, str]) -> Callable[..., str]:
    """Register a store and return a fresh enrolment token for it."""

    def make(store_id: str = "s-new", **body: Any) -> str:
        if client.get(f"{API}/stores/{store_id}", headers=op).status_code == 404:
            assert client.post(f"{API}/stores", json={"id": store_id, "name": store_id}, headers=op).status_code == 201
        r = client.post(f"{API}/stores/{store_id}/enrolments", json=body, headers=op)
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    return make


def _confirm(client: TestClient, op: dict[str, str], code: str, store_id: str = "s-new") -> Any:
    return client.post(f"{API}/stores/{store_id}/enrolments/confirm", json={"code": code}, headers=op)


def test_a_confirmed_device_collects_its_bundle_once(
    client: TestClient, op: dict[str, str], new_store: Callable[..., str]
) -> None:
    token = new_store()
    device = Device(client)
    assert device.claim(token).status_code == 200
    assert device.collect().status_code == 202  # waiting for the operator
    assert _confirm(client, op, device.code).status_code == 200
    r = device.collect()
    assert r.status_code == 200, r.text
    bundle = EnrolBundle.model_validate(r.json())
    assert bundle.store_id == "s-new"
    # The device token works for its own store and no other.
    headers = {"Authorization": f"Bearer {bundle.api_token}"}
    assert client.get(f"{API}/stores/s-new", headers=headers).status_code == 200
    assert client.get(f"{API}/stores/s-other/inventory", headers=headers).status_code == 403
    assert device.collect().status_code == 410  # handed out once
    assert client.get(f"{API}/stores/s-new", headers=op).json()["id"] == "s-new"


def test_a_stolen_token_alone_enrols_nothing(
    client: TestClient, op: dict[str, str], new_store: Callable[..., str]
) -> None:
    token = new_store()
    thief = Device(client)
    assert thief.claim(token).status_code == 200
    # The operator types the code shown on the store's screen; the thief's device shows another one.
    store_screen = "000000" if thief.code != "000000" else "111111"
    r = _confirm(client, op, store_screen)
    assert r.status_code == 403 and "4 attempts left" in r.json()["detail"]
    assert thief.collect().status_code == 202
    # Someone else's key cannot collect for the device that claimed the token.
    assert thief.collect(key=SigningKey.generate()).status_code == 403
    assert thief.collect(ts=int(time.time()) - 3600).status_code == 403


def test_wrong_codes_burn_the_token_and_alert(
    client: TestClient, op: dict[str, str], new_store: Callable[..., str], engine: Engine
) -> None:
    token = new_store()
    device = Device(client)
    device.claim(token)
    wrong = "000000" if device.code != "000000" else "111111"
    answers = [_confirm(client, op, wrong) for _ in range(5)]
    assert [a.status_code for a in answers] == [403] * 5
    assert "burnt" in answers[-1].json()["detail"]
    assert _confirm(client, op, device.code).status_code == 404  # nothing waits any more
    assert device.collect().status_code == 410
    assert count(engine, "SELECT count(*) FROM alerts WHERE kind = 'enrolment_burnt'") == 1


def test_used_expired_and_unknown_tokens_change_nothing(
    client: TestClient, op: dict[str, str], new_store: Callable[..., str], engine: Engine
) -> None:
    token = new_store()
    first, second = Device(client), Device(client)
    assert first.claim(token).status_code == 200
    r = second.claim(token)
    assert r.status_code == 403 and "used already" in r.json()["detail"]
    r = second.claim("est_" + "x" * 32)
    assert r.status_code == 403 and r.json()["detail"] == "unknown enrolment token"

    late = new_store("s-late")
    with make_session_factory(engine)() as session, session.begin():
        session.execute(update(StoreEnrolment).where(StoreEnrolment.store_id == "s-late").values(expires_at=_past()))
    r = Device(client).claim(late)
    assert r.status_code == 403 and "expired" in r.json()["detail"]
    assert count(engine, "SELECT count(*) FROM store_enrolments WHERE state = 'claimed'") == 1


def test_a_weak_device_key_is_refused(client: TestClient, new_store: Callable[..., str]) -> None:
    token = new_store()
    identity_point = "01" + "00" * 31  # small order: it would "verify" forged signatures
    r = client.post(f"{API}/enrol", json={"token": token, "device_key": identity_point})
    assert r.status_code == 403 and "not a usable" in r.json()["detail"]


def test_re_enrolling_an_active_store_needs_replace_and_retires_the_old_agent(
    client: TestClient, op: dict[str, str], new_store: Callable[..., str]
) -> None:
    old = Device(client)
    old.claim(new_store())
    _confirm(client, op, old.code)
    old_token = old.collect().json()["api_token"]
    r = client.post(f"{API}/stores/s-new/enrolments", json={}, headers=op)
    assert r.status_code == 409 and "replace" in r.json()["detail"]
    new = Device(client)
    new.claim(new_store(replace=True))
    assert client.get(f"{API}/stores/s-new", headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
    assert _confirm(client, op, new.code).status_code == 200
    assert client.get(f"{API}/stores/s-new", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    assert new.collect().status_code == 200


def test_retiring_a_store_revokes_its_tokens_at_once(
    client: TestClient, op: dict[str, str], new_store: Callable[..., str]
) -> None:
    device = Device(client)
    device.claim(new_store())
    _confirm(client, op, device.code)
    headers = {"Authorization": f"Bearer {device.collect().json()['api_token']}"}
    assert client.post(f"{API}/stores/s-new/retire", headers=op).status_code == 200
    assert client.get(f"{API}/stores/s-new", headers=headers).status_code == 401
    assert client.post(f"{API}/stores/s-new/enrolments", json={}, headers=op).status_code == 201  # enrol afresh


def test_device_tokens_need_a_store_and_expired_tokens_are_refused(client: TestClient, engine: Engine) -> None:
    with make_session_factory(engine)() as session, session.begin():
        with pytest.raises(Invalid, match="bound to a store"):
            create_token(session, name="loose", role=Role.DEVICE)
        _row, secret = create_token(session, name="old", role=Role.OPERATOR, expires_at=_past())
    assert client.get(f"{API}/stores", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def _past() -> Any:
    from cloud_sync.db.base import utcnow

    return utcnow() - timedelta(minutes=1)
