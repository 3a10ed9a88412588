"""The shopper API (/api/shop) on SQLite and PostgreSQL: sign-in, CSRF, sessions, pass, wallet, orders, receipts."""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from cloud_sync.config import CloudSettings
from cloud_sync.db.base import utcnow
from cloud_sync.db.models import Member
from cloud_sync.db.session import make_session_factory
from cloud_sync.db.shopper_models import ShopperSession, ShopperTopUp
from cloud_sync.main import create_app
from cloud_sync.services.sales import LowStock, record_sales
from cloud_sync.services.sync import build_snapshot
from cloud_sync.shopper.auth import normalise_contact
from cloud_sync.shopper.deps import CSRF_COOKIE
from contracts.member_code import PhoneKey, decode_code
from contracts.messages import SaleCompleted, SaleLine, dump

EMAIL = "Night.Owl@Example.org"


class Shopper:
    """A phone browser talking to the API: cookies kept, the CSRF header sent on every POST."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = client.get("/api/shop/csrf").json()["csrf"]

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": self.client.cookies.get(CSRF_COOKIE) or self.csrf}
        return self.client.post("/api/shop" + path, json=body, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get("/api/shop" + path, **kw)

    def sign_in(self, contact: str = EMAIL) -> dict[str, Any]:
        assert self.post("/codes", {"contact": contact}).status_code == 202
        sender = self.client.app.state.shopper_sender  # type: ignore[attr-defined]
        code = sender.last_code(normalise_contact(contact)[1])
        r = self.post("/sessions", {"contact": contact, "code": code})
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture
def shop(client: TestClient) -> Shopper:
    return Shopper(client)


def _phone_key(key: PhoneKey) -> str:
    return base64.urlsafe_b64encode(key.public_raw).rstrip(b"=").decode()


def test_join_then_sign_in_again_is_the_same_opaque_member(
    settings: CloudSettings, engine: Engine, tmp_path: Path
) -> None:
    codes = tmp_path / "codes.jsonl"
    with TestClient(create_app(settings.model_copy(update={"shopper_code_file": codes}), engine=engine)) as c:
        shop = Shopper(c)
        assert shop.get("/me").status_code == 401
        first = shop.sign_in()
        assert first["joined"] is True and first["contact"] == EMAIL.lower()
        me = shop.get("/me").json()
        assert me["member_id"] == first["member_id"] and me["balance_cents"] == 0
        sent = [json.loads(line) for line in codes.read_text().splitlines()]
        assert sent[0]["to"] == EMAIL.lower() and len(sent[0]["code"]) == 6
        again = Shopper(TestClient(c.app)).sign_in(EMAIL.upper())
        assert again["joined"] is False and again["member_id"] == first["member_id"]
        phone = Shopper(TestClient(c.app)).sign_in("+44 (20) 7946-0000")
        assert phone["contact"] == "+442079460000" and phone["member_id"] != first["member_id"]
    with make_session_factory(engine)() as session:
        member = session.get(Member, first["member_id"])
        assert member is not None and member.phone is None and EMAIL.lower() not in member.name.lower()
    # the code is stored hashed: its digits appear nowhere in the database
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT code_hash FROM shopper_codes").scalars().all()
    assert sent[0]["code"] not in " ".join(stored)


def test_a_bad_contact_is_a_clear_422(shop: Shopper) -> None:
    r = shop.post("/codes", {"contact": "not a contact"})
    assert r.status_code == 422 and "e-mail address or a phone number" in r.json()["detail"]


def test_five_wrong_codes_burn_the_code(shop: Shopper) -> None:
    assert shop.post("/codes", {"contact": EMAIL}).status_code == 202
    code = shop.client.app.state.shopper_sender.last_code(EMAIL.lower())  # type: ignore[attr-defined]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [shop.post("/sessions", {"contact": EMAIL, "code": wrong}) for _ in range(5)]
    assert [a.status_code for a in answers] == [401] * 5
    assert answers[0].json()["detail"] == "wrong code"
    assert "too many wrong codes" in answers[4].json()["detail"]
    right = shop.post("/sessions", {"contact": EMAIL, "code": code})
    assert right.status_code == 401 and "expired" in right.json()["detail"]
    assert shop.get("/me").status_code == 401


def test_code_requests_are_rate_limited_per_contact_and_per_client(settings: CloudSettings, engine: Engine) -> None:
    app = create_app(settings.model_copy(update={"shopper_codes_per_client": 5}), engine=engine)
    with TestClient(app) as c:
        shop = Shopper(c)
        assert [shop.post("/codes", {"contact": EMAIL}).status_code for _ in range(4)] == [202, 202, 202, 429]
        limited = shop.post("/codes", {"contact": EMAIL})
        assert "wait 15 minutes" in limited.json()["detail"]
        # another contact from the same client: two more, then this client is limited too
        statuses = [shop.post("/codes", {"contact": f"o{i}@example.org"}).status_code for i in range(3)]
        assert statuses == [202, 202, 429]


def test_an_expired_code_is_refused(shop: Shopper, engine: Engine) -> None:
    assert shop.post("/codes", {"contact": EMAIL}).status_code == 202
    code = shop.client.app.state.shopper_sender.last_code(EMAIL.lower())  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE shopper_codes SET expires_at = created_at")
    r = shop.post("/sessions", {"contact": EMAIL, "code": code})
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_state_changing_requests_need_the_csrf_header(client: TestClient) -> None:
    client.get("/api/shop/csrf")
    assert client.post("/api/shop/codes", json={"contact": EMAIL}).status_code == 403
    bad = client.post("/api/shop/codes", json={"contact": EMAIL}, headers={"X-CSRF-Token": "guess"})
    assert bad.status_code == 403 and "CSRF" in bad.json()["detail"]
    shop = Shopper(client)
    shop.sign_in()
    key = PhoneKey.generate()
    no_header = client.post("/api/shop/me/pass", json={"public_key": _phone_key(key)})
    assert no_header.status_code == 403
    assert (
        client.post("/api/shop/me/wallet/topups", json={"amount_cents": 100, "idempotency_key": "k" * 8}).status_code
        == 403
    )
    assert shop.get("/me/wallet").json()["balance_cents"] == 0


def test_session_cookie_is_httponly_strict_and_expires(shop: Shopper, engine: Engine) -> None:
    assert shop.post("/codes", {"contact": EMAIL}).status_code == 202
    code = shop.client.app.state.shopper_sender.last_code(EMAIL.lower())  # type: ignore[attr-defined]
    r = shop.post("/sessions", {"contact": EMAIL, "code": code})
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("smartstore_shop="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert shop.get("/me").status_code == 200
    with engine.begin() as conn:
        conn.execute(update(ShopperSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert shop.get("/me").status_code == 401
    with engine.connect() as conn:
        hashes = conn.execute(select(ShopperSession.token_hash)).scalars().all()
    token = shop.client.cookies.get("smartstore_shop")
    assert token and token not in hashes and len(hashes[0]) == 64


def test_sign_out_ends_the_session(shop: Shopper) -> None:
    shop.sign_in()
    token = shop.client.cookies.get("smartstore_shop")
    assert shop.post("/sessions/end").status_code == 204
    shop.client.cookies.set("smartstore_shop", token or "")
    assert shop.get("/me").status_code == 401


def test_a_new_phone_replaces_the_old_ones_pass(shop: Shopper, client: TestClient, op: dict[str, str]) -> None:
    me = shop.sign_in()
    old, new = PhoneKey.generate(), PhoneKey.generate()
    r = shop.post("/me/pass", {"public_key": _phone_key(old), "label": "old phone"})
    assert r.status_code == 201, r.text
    signed = base64.b64decode(r.json()["signed_pass_b64"])
    code = decode_code(old.show_code(signed, store_id="s1", now=utcnow().timestamp()))
    assert code.member_pass.member_id == me["member_id"] and code.member_pass.phone_key == old.public_raw
    assert code.member_pass.expires - code.member_pass.not_before == 24 * 3600
    assert shop.get("/me/pass", params={"phone_key": old.public_raw.hex()}).json()["status"] == "active"
    # renewing on the same phone keeps it; a second phone takes the pass and the old key is revoked
    assert shop.post("/me/pass", {"public_key": _phone_key(old), "label": "old phone"}).status_code == 201
    r = shop.post("/me/pass", {"public_key": base64.b64encode(new.public_raw).decode(), "label": "new phone"})
    assert r.status_code == 201
    status_old = shop.get("/me/pass", params={"phone_key": old.public_raw.hex()}).json()
    assert status_old["status"] == "replaced" and status_old["phone_label"] == "new phone"
    assert shop.get("/me/pass", params={"phone_key": new.public_raw.hex()}).json()["status"] == "active"
    revocations = client.get("/api/v1/sync/revocations", params={"snapshot": True}, headers=op).json()["snapshot"]
    assert revocations["revoked_phone_keys"] == [old.public_raw.hex()]
    assert shop.post("/me/pass", {"public_key": _phone_key(old), "label": "old phone"}).status_code == 409
    # an operator revokes the member: the app learns it on its next check
    assert client.post(f"/api/v1/members/{me['member_id']}/revoke", json={}, headers=op).status_code == 200
    assert shop.get("/me/pass", params={"phone_key": new.public_raw.hex()}).json()["status"] == "revoked"
    assert shop.post("/me/pass", {"public_key": _phone_key(new), "label": "new phone"}).status_code == 409


def test_a_weak_phone_key_is_refused(shop: Shopper) -> None:
    shop.sign_in()
    identity = base64.b64encode(bytes([1]) + bytes(31)).decode()  # the small-order identity point
    r = shop.post("/me/pass", {"public_key": identity})
    assert r.status_code == 422 and "Ed25519" in r.json()["detail"]


def test_top_up_with_the_test_provider(shop: Shopper, engine: Engine) -> None:
    shop.sign_in()
    r = shop.post("/me/wallet/topups", {"amount_cents": 2000, "idempotency_key": "first-top-up"})
    assert r.status_code == 201 and r.json()["balance_cents"] == 2000
    again = shop.post("/me/wallet/topups", {"amount_cents": 2000, "idempotency_key": "first-top-up"})
    assert again.status_code == 201 and again.json()["balance_cents"] == 2000  # not charged twice
    declined = shop.post("/me/wallet/topups", {"amount_cents": 1313, "idempotency_key": "declined-one"})
    assert declined.status_code == 402 and "declined" in declined.json()["detail"]
    wallet = shop.get("/me/wallet").json()
    assert wallet["balance_cents"] == 2000
    assert [(e["kind"], e["amount_cents"]) for e in wallet["entries"]] == [("topup", 2000)]
    with engine.connect() as conn:
        rows = conn.execute(select(ShopperTopUp.status, ShopperTopUp.amount_cents).order_by(ShopperTopUp.id)).all()
    assert [tuple(r) for r in rows] == [("approved", 2000), ("declined", 1313)]


def _store_with_stock(client: TestClient, op: dict[str, str]) -> None:
    assert client.post("/api/v1/stores", json={"id": "s1", "name": "Night Store 1"}, headers=op).status_code == 201
    for pid, price in (("milk", 120), ("bread", 250)):
        body = {"id": pid, "name": pid.title(), "price_cents": price}
        assert client.post("/api/v1/products", json=body, headers=op).status_code == 201
    lines = [{"product_id": "milk", "quantity": 3}, {"product_id": "bread", "quantity": 1}]
    assert client.post("/api/v1/stores/s1/restocks", json={"lines": lines}, headers=op).status_code == 201


def test_place_an_order_and_see_it(shop: Shopper, client: TestClient, op: dict[str, str]) -> None:
    _store_with_stock(client, op)
    shop.sign_in()
    assert shop.get("/stores").json() == [{"id": "s1", "name": "Night Store 1"}]
    products = shop.get("/stores/s1/products").json()
    assert {p["product_id"]: (p["price_cents"], p["available"]) for p in products} == {
        "milk": (120, 3),
        "bread": (250, 1),
    }
    order = {"store_id": "s1", "lines": [{"product_id": "milk", "quantity": 2}]}
    assert shop.post("/me/orders", order).status_code == 402  # the wallet is empty
    shop.post("/me/wallet/topups", {"amount_cents": 1000, "idempotency_key": "for-the-order"})
    r = shop.post("/me/orders", order)
    assert r.status_code == 201, r.text
    placed = r.json()
    assert placed["status"] == "reserved" and placed["total_cents"] == 240
    mine = shop.get("/me/orders").json()
    assert [o["id"] for o in mine] == [placed["id"]] and mine[0]["pickup_by"] == placed["pickup_by"]
    assert shop.get(f"/me/orders/{placed['id']}").json()["lines"][0]["quantity"] == 2
    other = Shopper(TestClient(client.app))
    other.sign_in("someone@example.org")
    assert other.get(f"/me/orders/{placed['id']}").status_code == 404
    assert other.get("/me/orders").json() == []
    assert shop.get("/me/wallet").json()["balance_cents"] == 760


def test_receipts_show_each_paid_basket(shop: Shopper, client: TestClient, op: dict[str, str], engine: Engine) -> None:
    _store_with_stock(client, op)
    me = shop.sign_in()
    promo = {
        "id": "p-milk",
        "name": "Milk week",
        "product_ids": ["milk"],
        "kind": "percent",
        "value": 10,
        "effective_from": utcnow().isoformat(),
    }
    assert client.post("/api/v1/promotions", json=promo, headers=op).status_code == 201
    assert shop.get("/me/receipts").json() == []
    sale = SaleCompleted(
        store_id="s1",
        sale_id=uuid.uuid4(),
        station_id="co1",
        member_id=me["member_id"],
        lines=[SaleLine(product_id="milk", name="Milk", quantity=2, unit_price_cents=120, total_cents=240)],
        subtotal_cents=240,
        discount_cents=74,
        promotion_ids=["p-milk"],
        promotion_discount_cents=24,
        coupon_ids=["c-50"],
        total_cents=166,
        payment_mode="offline",
    )
    with make_session_factory(engine)() as session, session.begin():
        record_sales(session, [SaleCompleted.model_validate_json(dump(sale))], LowStock())
    receipts = shop.get("/me/receipts").json()
    assert len(receipts) == 1
    r = receipts[0]
    assert r["sale_id"] == str(sale.sale_id) and r["total_cents"] == 166 and r["discount_cents"] == 74
    assert r["promotions"] == [{"id": "p-milk", "name": "Milk week"}] and r["coupon_ids"] == ["c-50"]
    assert r["lines"][0]["name"] == "Milk" and r["lines"][0]["quantity"] == 2
    other = Shopper(TestClient(client.app))
    other.sign_in("someone@example.org")
    assert other.get("/me/receipts").json() == []


def test_no_contact_reaches_what_stores_receive(
    shop: Shopper, client: TestClient, op: dict[str, str], engine: Engine
) -> None:
    _store_with_stock(client, op)
    me = shop.sign_in("+15550001234")
    key = PhoneKey.generate()
    signed = base64.b64decode(shop.post("/me/pass", {"public_key": _phone_key(key)}).json()["signed_pass_b64"])
    shop.post("/me/pass", {"public_key": _phone_key(PhoneKey.generate())})  # revokes the first key
    coupon = {"id": "c-1", "member_id": me["member_id"], "kind": "amount", "value": 50}
    assert client.post("/api/v1/coupons", json=coupon, headers=op).status_code == 201
    with make_session_factory(engine)() as session:
        synced = b"".join(dump(build_snapshot(session, ch)) for ch in ("catalog", "revocations", "coupons", "keys"))
    code = key.show_code(signed, store_id="s1", now=utcnow().timestamp()).encode()
    for blob in (synced, code, base64.urlsafe_b64decode(code[4:] + b"==")):
        assert b"5550001234" not in blob
    assert me["member_id"].encode() in synced  # the coupon names the opaque id, and only that


def test_openapi_documents_the_shopper_api_under_its_tag(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    shop_paths = {p: ops for p, ops in paths.items() if p.startswith("/api/shop")}
    assert {"/api/shop/codes", "/api/shop/sessions", "/api/shop/me/pass", "/api/shop/me/receipts"} <= set(shop_paths)
    assert all(op["tags"] == ["shopper"] for ops in shop_paths.values() for op in ops.values())
    params = {p["name"] for p in shop_paths["/api/shop/me/pass"]["post"]["parameters"]}
    assert "X-CSRF-Token" in params
    assert not any(p.startswith("/app") for p in paths)


def test_the_app_page_and_its_files_are_served(client: TestClient) -> None:
    page = client.get("/app/")
    assert page.status_code == 200 and 'src="app.js"' in page.text
    assert client.get("/app", follow_redirects=False).headers["location"] == "/app/"
    for name, kind in (("sw.js", "javascript"), ("manifest.webmanifest", "manifest"), ("strings/en.json", "json")):
        r = client.get(f"/app/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"], name
    assert client.get("/app/package.json").status_code == 404
    assert client.get("/app/strings/..%2Fapp.js").status_code == 404
    strings = client.get("/app/strings/en.json").json()
    assert strings["pass_revoked"].startswith("Your pass has been revoked")


def test_a_missing_qr_encoder_is_one_log_line_and_a_plain_404(
    settings: CloudSettings, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cloud_sync.shopper.web_routes"):
        app = create_app(settings.model_copy(update={"shopper_vendor_dir": tmp_path / "nothing"}), engine=engine)
    lines = [r.getMessage() for r in caplog.records if r.name == "cloud_sync.shopper.web_routes"]
    assert len(lines) == 1 and "make setup" in lines[0]
    with TestClient(app) as c:
        r = c.get("/app/vendor/qrcode.js")
        assert r.status_code == 404 and r.text == "QR encoder not installed: run make setup"
        assert c.get("/app/").status_code == 200


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[dict[str, Any]], Callable[[int], None]]]:
    """A tiny HTTP gateway recording JSON posts; ``answer(status)`` sets its reply."""
    received: list[dict[str, Any]] = []
    reply = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(reply["status"])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/send", received, lambda s: reply.update(status=s)
    finally:
        server.shutdown()
        thread.join(5)


def test_the_webhook_sender_posts_the_code(
    settings: CloudSettings, engine: Engine, gateway: tuple[str, list[dict[str, Any]], Callable[[int], None]]
) -> None:
    url, received, answer = gateway
    app = create_app(
        settings.model_copy(update={"shopper_sender": "webhook", "shopper_webhook_url": url}), engine=engine
    )
    with TestClient(app) as c:
        shop = Shopper(c)
        assert shop.post("/codes", {"contact": "+15550001234"}).status_code == 202
        assert received[0]["channel"] == "phone" and received[0]["to"] == "+15550001234"
        assert shop.post("/sessions", {"contact": "+15550001234", "code": received[0]["code"]}).status_code == 201
        answer(500)
        r = shop.post("/codes", {"contact": "+15550001234"})
        assert r.status_code == 503 and r.json()["detail"] == "the code could not be sent now; try again in a minute"
