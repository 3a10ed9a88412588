"""REST API behaviour on SQLite and PostgreSQL (TestClient, in-process)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, text

from contracts.member_code import PhoneKey, decode_code, decode_public_keys, verify_code
from tests.cloud_sync.conftest import count

Auth = Callable[..., dict[str, str]]


def _store(client: TestClient, op: dict[str, str], store_id: str = "s1") -> None:
    r = client.post("/api/v1/stores", json={"id": store_id, "name": f"Store {store_id}"}, headers=op)
    assert r.status_code == 201, r.text


def _member(client: TestClient, op: dict[str, str], member_id: str = "alice", balance: int = 0) -> None:
    r = client.post("/api/v1/members", json={"id": member_id, "name": member_id.title()}, headers=op)
    assert r.status_code == 201, r.text
    if balance:
        r = client.post(
            f"/api/v1/members/{member_id}/wallet/topups",
            json={"amount_cents": balance, "reference": f"init-{member_id}"},
            headers=op,
        )
        assert r.status_code == 201, r.text


def _product(
    client: TestClient, op: dict[str, str], pid: str = "p1", price: int | None = 100, **extra: Any
) -> dict[str, Any]:
    r = client.post(
        "/api/v1/products", json={"id": pid, "name": f"Product {pid}", "price_cents": price} | extra, headers=op
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


# ------------------------------------------------------------------------------ auth


def test_requests_without_or_with_bad_tokens_are_refused(client: TestClient, auth: Auth, engine: Engine) -> None:
    assert client.get("/api/v1/stores").status_code == 401
    assert client.get("/api/v1/stores", headers={"Authorization": "Bearer sst_nope"}).status_code == 401
    tech = auth("technician")
    assert client.get("/api/v1/stores", headers=tech).status_code == 200
    r = client.get("/api/v1/members", headers=tech)
    assert r.status_code == 403
    assert "operator" in r.json()["detail"]
    op = auth("operator")
    created = client.post("/api/v1/tokens", json={"name": "kiosk", "role": "device", "store_id": "s1"}, headers=op)
    assert created.status_code == 201
    secret = created.json()["token"]
    with engine.connect() as conn:  # only a hash is stored
        assert conn.execute(text("SELECT count(*) FROM api_tokens WHERE token_hash = :s"), {"s": secret}).scalar() == 0
    dev = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/sync/manifest", headers=dev).status_code == 200
    assert client.get("/api/v1/stores/s2/inventory", headers=dev).status_code == 403
    assert client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=op).status_code == 204
    assert client.get("/api/v1/sync/manifest", headers=dev).status_code == 401
    listed = client.get("/api/v1/tokens", headers=op).json()
    assert all("token" not in t for t in listed["items"])


# ---------------------------------------------------------------------------- stores


def test_store_registration_listing_and_pagination(client: TestClient, op: dict[str, str]) -> None:
    for i in range(5):
        _store(client, op, f"s{i}")
    assert client.post("/api/v1/stores", json={"id": "s1", "name": "again"}, headers=op).status_code == 409
    page = client.get("/api/v1/stores", params={"limit": 2, "offset": 2}, headers=op).json()
    assert page["total"] == 5
    assert [s["id"] for s in page["items"]] == ["s2", "s3"]
    assert client.get("/api/v1/stores", params={"online": True}, headers=op).json()["total"] == 0
    r = client.patch("/api/v1/stores/s1", json={"name": "Main street"}, headers=op)
    assert r.status_code == 200
    assert r.json()["name"] == "Main street"
    assert client.get("/api/v1/stores/nope", headers=op).status_code == 404
    detail = client.get("/api/v1/stores/s1", headers=op).json()
    assert detail["online"] is False
    assert detail["devices"] == []
    assert detail["sync_versions"] == {}


# --------------------------------------------------------------------------- members


def test_member_pass_verifies_with_downloaded_public_keys(client: TestClient, op: dict[str, str], auth: Auth) -> None:
    _member(client, op, "alice")
    assert client.post("/api/v1/members", json={"id": "alice", "name": "Dup"}, headers=op).status_code == 409
    phone = PhoneKey.generate()
    r = client.post(
        "/api/v1/members/alice/passes", json={"phone_public_key": phone.public_raw.hex(), "valid_s": 3600}, headers=op
    )
    assert r.status_code == 201, r.text
    small_order = "01" + "00" * 31  # no phone secret needed to "sign" for it under OpenSSL
    r_bad = client.post("/api/v1/members/alice/passes", json={"phone_public_key": small_order}, headers=op)
    assert r_bad.status_code == 422 and "small order" in r_bad.text
    signed = base64.b64decode(r.json()["signed_pass_b64"])
    keys = client.get("/api/v1/issuer-keys/public", headers=auth("device", "s1")).json()
    trusted = decode_public_keys(keys["keys"])
    now = time.time()
    code = decode_code(phone.show_code(signed, store_id="s1", now=now))
    verified = verify_code(code, trusted_keys=trusted, store_id="s1", now=now)
    assert verified.member_id == "alice"
    assert verified.phone_key == phone.public_raw
    # Retiring the key removes it from what stores trust.
    kid = r.json()["kid"]
    assert client.post(f"/api/v1/issuer-keys/{kid}/retire", headers=op).status_code == 200
    assert kid not in client.get("/api/v1/issuer-keys/public", headers=op).json()["keys"]


def test_issuer_keys_are_encrypted_at_rest_with_the_passphrase(
    settings: Any, engine: Engine, client: TestClient, op: dict[str, str]
) -> None:
    from cloud_sync.main import create_app

    _member(client, op, "alice")
    phone = PhoneKey.generate().public_raw.hex()
    # A key made without a passphrase (an older deployment) is stored in clear...
    assert client.post("/api/v1/members/alice/passes", json={"phone_public_key": phone}, headers=op).status_code == 201
    with engine.connect() as conn:
        assert "BEGIN PRIVATE KEY" in conn.execute(text("SELECT private_pem FROM issuer_keys")).scalar_one()
    locked = settings.model_copy(update={"key_passphrase": SecretStr("correct horse")})
    with TestClient(create_app(locked, engine=engine)) as c:
        # ...and re-stored encrypted the first time it signs with the passphrase configured.
        r = c.post("/api/v1/members/alice/passes", json={"phone_public_key": phone}, headers=op)
        assert r.status_code == 201, r.text
        assert c.post("/api/v1/issuer-keys", headers=op).status_code == 201
    with engine.connect() as conn:
        pems = list(conn.execute(text("SELECT private_pem FROM issuer_keys")).scalars())
    assert len(pems) == 2
    assert all(p.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----") for p in pems)
    # Without the passphrase (or with a wrong one) the service refuses clearly instead of crashing.
    r = client.post("/api/v1/members/alice/passes", json={"phone_public_key": phone}, headers=op)
    assert r.status_code == 503
    assert "CLOUD_KEY_PASSPHRASE" in r.json()["detail"]
    wrong = settings.model_copy(update={"key_passphrase": SecretStr("wrong")})
    with TestClient(create_app(wrong, engine=engine)) as c:
        assert c.post("/api/v1/members/alice/passes", json={"phone_public_key": phone}, headers=op).status_code == 503


def test_revocation_bumps_the_channel_and_blocks_new_passes(client: TestClient, op: dict[str, str]) -> None:
    _member(client, op, "bob")
    phone = PhoneKey.generate().public_raw.hex()
    client.post("/api/v1/members/bob/passes", json={"phone_public_key": phone}, headers=op)
    before = client.get("/api/v1/sync/manifest", headers=op).json()["versions"]["revocations"]
    r = client.post("/api/v1/members/bob/revoke", json={"reason": "lost card"}, headers=op)
    assert r.status_code == 200
    assert r.json()["revoked_at"] is not None
    snap = client.get("/api/v1/sync/revocations", params={"snapshot": True}, headers=op).json()
    assert snap["version"] == before + 1
    assert "bob" in snap["snapshot"]["revoked_member_ids"]
    again = client.post("/api/v1/members/bob/revoke", json={}, headers=op)
    assert again.status_code == 200
    assert client.get("/api/v1/sync/manifest", headers=op).json()["versions"]["revocations"] == before + 1
    assert client.post("/api/v1/members/bob/passes", json={"phone_public_key": phone}, headers=op).status_code == 409
    assert client.post("/api/v1/members/bob/reinstate", headers=op).json()["revoked_at"] is None
    # Revoking just one phone key leaves the member valid.
    r = client.post("/api/v1/members/bob/revoke", json={"phone_key": phone}, headers=op)
    assert r.status_code == 200
    assert r.json()["revoked_at"] is None
    snap = client.get("/api/v1/sync/revocations", params={"snapshot": True}, headers=op).json()["snapshot"]
    assert phone in snap["revoked_phone_keys"]
    assert "bob" not in snap["revoked_member_ids"]
    assert client.post("/api/v1/members/bob/revoke", json={"phone_key": "ab" * 32}, headers=op).status_code == 404


def test_wallet_top_up_is_idempotent_on_reference(client: TestClient, op: dict[str, str]) -> None:
    _member(client, op, "carol")
    for _ in range(2):
        r = client.post(
            "/api/v1/members/carol/wallet/topups", json={"amount_cents": 1500, "reference": "tx-1"}, headers=op
        )
        assert r.status_code == 201
        assert r.json()["balance_after"] == 1500
    assert (
        client.post(
            "/api/v1/members/carol/wallet/topups", json={"amount_cents": 99, "reference": "tx-1"}, headers=op
        ).status_code
        == 409
    )
    client.post("/api/v1/members/carol/wallet/topups", json={"amount_cents": 500, "reference": "tx-2"}, headers=op)
    wallet = client.get("/api/v1/members/carol/wallet", headers=op).json()
    assert wallet["balance_cents"] == 2000
    assert wallet["entries"]["total"] == 2
    assert client.get("/api/v1/members/carol", headers=op).json()["balance_cents"] == 2000
    assert (
        client.post(
            "/api/v1/members/nobody/wallet/topups", json={"amount_cents": 1, "reference": "x"}, headers=op
        ).status_code
        == 404
    )


# --------------------------------------------------------------------------- catalog


def test_products_barcodes_prices_and_promotions(client: TestClient, op: dict[str, str]) -> None:
    _product(client, op, "milk", 129, barcodes=["4000000000017"], unit_weight_g=1030, weight_tolerance_g=15)
    r = client.post(
        "/api/v1/products",
        json={"id": "milk2", "name": "Milk", "price_cents": 1, "barcodes": ["4000000000017"]},
        headers=op,
    )
    assert r.status_code == 409
    assert "barcode" in r.json()["detail"]
    r = client.post("/api/v1/products", json={"id": "apples", "name": "Apples", "sold_by_weight": True}, headers=op)
    assert r.status_code == 422
    _product(client, op, "apples", None, sold_by_weight=True, price_per_kg_cents=349)
    found = client.get("/api/v1/products", params={"barcode": "4000000000017"}, headers=op).json()
    assert [p["id"] for p in found["items"]] == ["milk"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (
        client.post(
            "/api/v1/products/milk/prices", json={"price_cents": 149, "effective_from": future}, headers=op
        ).status_code
        == 201
    )
    assert client.get("/api/v1/products/milk", headers=op).json()["price_cents"] == 129
    assert client.post("/api/v1/products/milk/prices", json={"price_cents": 119}, headers=op).status_code == 201
    assert client.get("/api/v1/products/milk", headers=op).json()["price_cents"] == 119
    assert client.post("/api/v1/products/apples/prices", json={"price_cents": 10}, headers=op).status_code == 422
    snap = client.get("/api/v1/sync/catalog", params={"snapshot": True}, headers=op).json()["snapshot"]
    milk = next(p for p in snap["products"] if p["id"] == "milk")
    assert milk["price_cents"] == 119
    assert [s["price_cents"] for s in milk["scheduled_prices"]] == [149]
    assert milk["barcodes"] == ["4000000000017"]
    assert milk["unit_weight_g"] == 1030
    promo = {
        "id": "promo1",
        "name": "Milk week",
        "product_ids": ["milk"],
        "kind": "percent",
        "value": 10,
        "effective_from": future,
    }
    assert client.post("/api/v1/promotions", json=promo | {"product_ids": ["ghost"]}, headers=op).status_code == 422
    assert client.post("/api/v1/promotions", json=promo | {"value": 150}, headers=op).status_code == 422
    assert client.post("/api/v1/promotions", json=promo, headers=op).status_code == 201
    snap = client.get("/api/v1/sync/catalog", params={"snapshot": True}, headers=op).json()["snapshot"]
    assert [p["id"] for p in snap["promotions"]] == ["promo1"]
    assert client.delete("/api/v1/promotions/promo1", headers=op).json()["active"] is False
    snap = client.get("/api/v1/sync/catalog", params={"snapshot": True}, headers=op).json()["snapshot"]
    assert snap["promotions"] == []
    assert client.patch("/api/v1/products/milk", json={"barcodes": ["123", "123"]}, headers=op).status_code == 422


def test_item_codes_of_scale_labels_are_unique_and_synced(client: TestClient, op: dict[str, str]) -> None:
    _product(client, op, "cheese", None, sold_by_weight=True, price_per_kg_cents=2000, item_code="12345")
    assert client.get("/api/v1/products/cheese", headers=op).json()["item_code"] == "12345"
    r = client.post(
        "/api/v1/products", json={"id": "ham", "name": "Ham", "price_cents": 349, "item_code": "12345"}, headers=op
    )
    assert r.status_code == 409 and "item code" in r.json()["detail"]
    bad = {"id": "ham", "name": "Ham", "price_cents": 349, "item_code": "12a45"}
    assert client.post("/api/v1/products", json=bad, headers=op).status_code == 422
    _product(client, op, "ham", 349)
    assert client.patch("/api/v1/products/ham", json={"item_code": "12345"}, headers=op).status_code == 409
    assert client.patch("/api/v1/products/ham", json={"item_code": "54321"}, headers=op).json()["item_code"] == "54321"
    snap = client.get("/api/v1/sync/catalog", params={"snapshot": True}, headers=op).json()["snapshot"]
    assert {p["id"]: p["item_code"] for p in snap["products"]} == {"cheese": "12345", "ham": "54321"}


def test_product_images_upload_and_download(client: TestClient, op: dict[str, str], auth: Auth) -> None:
    _product(client, op, "p1")
    png = b"\x89PNG\r\n\x1a\n" + b"x" * 100
    r = client.post("/api/v1/products/p1/images", content=png, headers=op | {"Content-Type": "image/png"})
    assert r.status_code == 201, r.text
    image_id = r.json()["id"]
    got = client.get(f"/api/v1/products/p1/images/{image_id}", headers=auth("device", "s1"))
    assert got.content == png
    assert got.headers["content-type"] == "image/png"
    assert client.get("/api/v1/products/p1", headers=op).json()["image_ids"] == [image_id]
    assert (
        client.post(
            "/api/v1/products/p1/images", content=b"abc", headers=op | {"Content-Type": "text/plain"}
        ).status_code
        == 422
    )
    big = b"0" * (2 * 1024 * 1024 + 1)
    assert (
        client.post("/api/v1/products/p1/images", content=big, headers=op | {"Content-Type": "image/png"}).status_code
        == 422
    )
    assert client.get(f"/api/v1/products/other/images/{image_id}", headers=op).status_code == 404


# ------------------------------------------------------------------ inventory & orders


def test_inventory_restock_is_idempotent_and_low_stock_is_listed(
    client: TestClient, op: dict[str, str], auth: Auth
) -> None:
    _store(client, op, "s1")
    _product(client, op, "p1", low_stock_threshold=3)
    tech = auth("technician")
    body = {"lines": [{"product_id": "p1", "quantity": 4}], "reference": "delivery-7"}
    assert client.post("/api/v1/stores/s1/restocks", json=body, headers=tech).json()[0]["on_hand"] == 4
    assert client.post("/api/v1/stores/s1/restocks", json=body, headers=tech).json()[0]["on_hand"] == 4
    assert (
        client.post(
            "/api/v1/stores/s1/restocks", json={"lines": [{"product_id": "ghost", "quantity": 1}]}, headers=tech
        ).status_code
        == 422
    )
    rows = client.get("/api/v1/stores/s1/inventory", headers=auth("device", "s1")).json()
    assert rows == [
        {
            "store_id": "s1",
            "product_id": "p1",
            "name": "Product p1",
            "on_hand": 4,
            "reserved": 0,
            "available": 4,
            "threshold": 3,
            "low": False,
        }
    ]
    assert client.get("/api/v1/inventory/low-stock", headers=tech).json() == []


def test_click_and_collect_reserves_charges_and_collects(client: TestClient, op: dict[str, str], auth: Auth) -> None:
    _store(client, op, "s1")
    _store(client, op, "s2")
    _member(client, op, "dave", balance=1000)
    _member(client, op, "erin", balance=50)
    _product(client, op, "p1", 100)
    client.post("/api/v1/stores/s1/restocks", json={"lines": [{"product_id": "p1", "quantity": 10}]}, headers=op)
    order = {"store_id": "s1", "member_id": "dave", "lines": [{"product_id": "p1", "quantity": 3}]}
    r = client.post("/api/v1/orders", json=order, headers=op)
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    assert r.json()["total_cents"] == 300
    assert r.json()["status"] == "reserved"
    inv = client.get("/api/v1/stores/s1/inventory", headers=op).json()[0]
    assert (inv["on_hand"], inv["reserved"], inv["available"]) == (10, 3, 7)
    assert client.get("/api/v1/members/dave", headers=op).json()["balance_cents"] == 700
    too_many = order | {"lines": [{"product_id": "p1", "quantity": 8}]}
    assert client.post("/api/v1/orders", json=too_many, headers=op).status_code == 409
    assert client.post("/api/v1/orders", json=order | {"member_id": "erin"}, headers=op).status_code == 402
    assert client.post("/api/v1/orders", json=order | {"store_id": "s2"}, headers=op).status_code == 409
    other_device = auth("device", "s2")
    assert (
        client.post(f"/api/v1/orders/{oid}/collect", json={"member_id": "dave"}, headers=other_device).status_code
        == 403
    )
    device = auth("device", "s1")
    assert client.post(f"/api/v1/orders/{oid}/collect", json={"member_id": "erin"}, headers=device).status_code == 409
    r = client.post(f"/api/v1/orders/{oid}/collect", json={"member_id": "dave"}, headers=device)
    assert r.status_code == 200
    assert r.json()["status"] == "collected"
    inv = client.get("/api/v1/stores/s1/inventory", headers=op).json()[0]
    assert (inv["on_hand"], inv["reserved"], inv["available"]) == (7, 0, 7)
    assert client.post(f"/api/v1/orders/{oid}/cancel", headers=op).status_code == 409
    second = client.post("/api/v1/orders", json=order, headers=op).json()
    cancelled = client.post(f"/api/v1/orders/{second['id']}/cancel", headers=op)
    assert cancelled.json()["status"] == "cancelled"
    assert client.get("/api/v1/members/dave", headers=op).json()["balance_cents"] == 700
    listed = client.get("/api/v1/orders", params={"status": "collected"}, headers=device).json()
    assert [o["id"] for o in listed["items"]] == [oid]


def test_expired_orders_release_stock_and_refund(client: TestClient, op: dict[str, str], engine: Engine) -> None:
    _store(client, op, "s1")
    _member(client, op, "fay", balance=500)
    _product(client, op, "p1", 100)
    client.post("/api/v1/stores/s1/restocks", json={"lines": [{"product_id": "p1", "quantity": 2}]}, headers=op)
    oid = client.post(
        "/api/v1/orders",
        json={"store_id": "s1", "member_id": "fay", "lines": [{"product_id": "p1", "quantity": 2}]},
        headers=op,
    ).json()["id"]
    with engine.begin() as conn:  # time passes: the pickup window closes
        conn.execute(text("UPDATE orders SET pickup_by = :t"), {"t": datetime.now(UTC) - timedelta(minutes=1)})
    inv = client.get("/api/v1/stores/s1/inventory", headers=op).json()[0]
    assert inv["available"] == 2
    assert client.get(f"/api/v1/orders/{oid}", headers=op).json()["status"] == "expired"
    assert client.get("/api/v1/members/fay", headers=op).json()["balance_cents"] == 500


def test_coupons_issue_list_and_revoke(client: TestClient, op: dict[str, str]) -> None:
    _member(client, op, "gus")
    r = client.post(
        "/api/v1/coupons", json={"id": "c1", "member_id": "gus", "kind": "amount", "value": 200}, headers=op
    )
    assert r.status_code == 201
    assert (
        client.post(
            "/api/v1/coupons", json={"member_id": "nobody", "kind": "amount", "value": 1}, headers=op
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/v1/coupons", json={"member_id": "gus", "kind": "percent", "value": 101}, headers=op
        ).status_code
        == 422
    )
    snap = client.get("/api/v1/sync/coupons", params={"snapshot": True}, headers=op).json()["snapshot"]
    assert [c["id"] for c in snap["coupons"]] == ["c1"]
    assert client.get("/api/v1/coupons", params={"member_id": "gus", "state": "open"}, headers=op).json()["total"] == 1
    assert client.post("/api/v1/coupons/c1/revoke", headers=op).json()["revoked_at"] is not None
    snap = client.get("/api/v1/sync/coupons", params={"snapshot": True}, headers=op).json()["snapshot"]
    assert snap["coupons"] == []


# --------------------------------------------------------------------------- sync pull


def test_sync_pull_returns_deltas_since_a_version_or_a_snapshot(
    client: TestClient, op: dict[str, str], auth: Auth
) -> None:
    dev = auth("device", "s1")
    assert client.get("/api/v1/sync/catalog", params={"since": 0}, headers=dev).json()["snapshot"]["products"] == []
    for pid in ("a", "b", "c"):
        _product(client, op, pid)
    v = client.get("/api/v1/sync/manifest", headers=dev).json()["versions"]["catalog"]
    assert v == 3
    out = client.get("/api/v1/sync/catalog", params={"since": 1}, headers=dev).json()
    assert out["snapshot"] is None
    assert [d["version"] for d in out["deltas"]] == [2, 3]
    assert [p["id"] for d in out["deltas"] for p in d["upsert_products"]] == ["b", "c"]
    assert client.get("/api/v1/sync/catalog", params={"since": 3}, headers=dev).json() == {
        "channel": "catalog",
        "version": 3,
        "since": 3,
        "snapshot": None,
        "deltas": [],
    }
    ahead = client.get("/api/v1/sync/catalog", params={"since": 99}, headers=dev).json()
    assert ahead["snapshot"]["version"] == 3
    assert client.get("/api/v1/sync/bogus", headers=dev).status_code == 422


def test_http_payment_authorisation_is_idempotent(client: TestClient, op: dict[str, str], auth: Auth) -> None:
    _member(client, op, "hal", balance=300)
    dev = auth("device", "s1")
    req = {
        "request_id": str(uuid.uuid4()),
        "store_id": "s1",
        "member_id": "hal",
        "amount_cents": 250,
        "sale_id": str(uuid.uuid4()),
        "expires_at": (datetime.now(UTC) + timedelta(seconds=30)).isoformat(),
    }
    first = client.post("/api/v1/payments/authorize", json=req, headers=dev).json()
    again = client.post("/api/v1/payments/authorize", json=req, headers=dev).json()
    assert first["status"] == "approved"
    assert first["balance_cents"] == 50
    assert again["authorization_id"] == first["authorization_id"]
    assert again["balance_cents"] == 50
    # A new request for the same sale is answered from its charge (charged once per sale).
    same_sale = client.post("/api/v1/payments/authorize", json=req | {"request_id": str(uuid.uuid4())}, headers=dev)
    assert same_sale.json()["authorization_id"] == first["authorization_id"]
    other = {"request_id": str(uuid.uuid4()), "sale_id": str(uuid.uuid4())}
    second = client.post("/api/v1/payments/authorize", json=req | other, headers=dev).json()
    assert second["status"] == "declined"
    assert second["reason"] == "insufficient_funds"
    assert client.post("/api/v1/payments/authorize", json=req | {"store_id": "s2"}, headers=dev).status_code == 403
    assert client.get("/api/v1/members/hal", headers=op).json()["balance_cents"] == 50


# -------------------------------------------------------------------------- validation


def test_bad_input_is_a_4xx_with_a_message(client: TestClient, op: dict[str, str]) -> None:
    bad = [
        ("post", "/api/v1/stores", {"id": "bad/id", "name": "x"}),
        ("post", "/api/v1/stores", {"id": "s1", "name": "nul\x00byte"}),
        ("post", "/api/v1/stores", {"id": "s1", "name": "x", "extra": 1}),
        ("post", "/api/v1/members", {"name": "x", "tier": "has space"}),
        ("post", "/api/v1/products", {"id": "p", "name": "x", "price_cents": -1}),
        ("post", "/api/v1/products", {"id": "p", "name": "x", "price_cents": 10**12}),
        (
            "post",
            "/api/v1/coupons",
            {"member_id": "m", "kind": "amount", "value": 1, "valid_from": "0001-01-01T00:00:00+05:00"},
        ),
    ]
    for method, path, body in bad:
        r = getattr(client, method)(path, json=body, headers=op)
        assert r.status_code == 422, (path, body, r.status_code, r.text)
        assert r.json()["detail"]
    r = client.post("/api/v1/stores", content=b"{not json", headers=op | {"Content-Type": "application/json"})
    assert r.status_code == 422
    assert client.get("/api/v1/stores", params={"limit": 0}, headers=op).status_code == 422
    assert client.get("/api/v1/entries", params={"since": "yesterday"}, headers=op).status_code == 422


def test_health_and_metrics(client: TestClient, op: dict[str, str], engine: Engine) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}
    _store(client, op, "s1")
    with engine.begin() as conn:
        conn.execute(text("UPDATE stores SET online = :t"), {"t": True})
    body = client.get("/metrics").text
    assert "smartstore_stores_online 1.0" in body
    assert 'smartstore_http_requests_total{method="POST",route="/api/v1/stores",status="201"} 1.0' in body
    assert count(engine, "SELECT count(*) FROM stores") == 1


def test_metrics_carry_per_store_series_with_bounded_cardinality(
    settings: Any, engine: Engine, op: dict[str, str]
) -> None:
    from cloud_sync.main import create_app

    capped = settings.model_copy(update={"metrics_max_stores": 2})
    with TestClient(create_app(capped, engine=engine)) as c:
        for sid in ("m-a", "m-b", "m-c"):
            _store(c, op, sid)
        seen = datetime.now(UTC) - timedelta(seconds=90)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE stores SET online = :t, last_seen_at = :s WHERE id = 'm-a'"), {"t": True, "s": seen}
            )
        body = c.get("/metrics").text
    assert 'smartstore_store_online{store="m-a"} 1.0' in body and 'smartstore_store_online{store="m-b"} 0.0' in body
    assert 'store="m-c"' not in body and "smartstore_stores_unlabelled 1.0" in body
    (line,) = [x for x in body.splitlines() if x.startswith('smartstore_store_last_seen_seconds{store="m-a"}')]
    assert 89 <= float(line.split()[-1]) < 150
    assert 'smartstore_store_alarms_active{store="m-a"} 0.0' in body


def test_access_log_exports_as_csv(
    client: TestClient, op: dict[str, str], auth: Auth, engine: Engine, monkeypatch: Any
) -> None:
    import csv
    import io

    from cloud_sync.api.routes import activity
    from cloud_sync.db.models import Entry

    t0 = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    rows = [
        {"store": "s1", "member": "alice", "granted": True, "reason": None, "via": "member_code", "min": 0},
        {"store": "s1", "member": "bob", "granted": False, "reason": "expired", "via": None, "min": 5},
        {"store": "s2", "member": None, "granted": False, "reason": "malformed", "via": None, "min": 10},
    ]
    with engine.begin() as conn:
        conn.execute(
            Entry.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "event_id": uuid.uuid4(),
                    "store_id": r["store"],
                    "door_id": "main",
                    "ts": t0 + timedelta(minutes=r["min"]),  # type: ignore[arg-type]
                    "member_id": r["member"],
                    "granted": r["granted"],
                    "reason": r["reason"],
                    "via": r["via"],
                }
                for r in rows
            ],
        )

    def export(headers: dict[str, str], **params: Any) -> list[dict[str, str]]:
        r = client.get("/api/v1/entries.csv", params=params, headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        return list(csv.DictReader(io.StringIO(r.text)))

    every = export(op)
    assert [e["member_id"] for e in every] == ["", "bob", "alice"]  # newest first
    assert every[2] == every[2] | {"store_id": "s1", "granted": "True", "via": "member_code", "reason": ""}
    assert datetime.fromisoformat(every[2]["ts"]) == t0
    assert [e["reason"] for e in export(auth("technician"), store_id="s1", granted=False)] == ["expired"]
    assert (
        export(op, since=(t0 + timedelta(minutes=1)).isoformat(), until=(t0 + timedelta(minutes=6)).isoformat())[0][
            "member_id"
        ]
        == "bob"
    )
    assert client.get("/api/v1/entries.csv").status_code == 401
    assert client.get("/api/v1/entries.csv", headers=auth("device", "s1")).status_code == 403
    monkeypatch.setattr(activity, "ENTRIES_CSV_MAX_ROWS", 2)
    refused = client.get("/api/v1/entries.csv", headers=op)
    assert refused.status_code == 422 and "narrow" in refused.json()["detail"]
