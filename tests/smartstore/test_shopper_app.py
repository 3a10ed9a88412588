"""The shopper's phone app in headless Chromium against the real cloud, broker and door agent.

Join, sign in with the code the log sender wrote, get a pass (WebCrypto Ed25519 key), go
offline, reload from the service worker, screenshot the QR and feed it to the door's real
camera reader: the door opens; the same picture is refused as expired (store clock ahead) and
as replayed; after a revocation the app says so and the door refuses it. Then wallet, order and
receipt through the page.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import uvicorn

from cloud_sync import downlink_key
from cloud_sync.config import CloudSettings
from cloud_sync.db.migrate import upgrade
from cloud_sync.db.session import make_engine, make_session_factory
from cloud_sync.main import create_app
from cloud_sync.services.sales import LowStock, record_sales
from cloud_sync.services.tokens import Role
from contracts.member_code import decode_code, decode_public_keys, verify_code
from contracts.messages import DenyReason, SaleCompleted, SaleLine, dump
from edge_agent.adapters.camera import CameraReader, decode_qr
from edge_agent.bootstrap import RunningAgent, build_agent
from edge_agent.config import AgentSettings
from edge_agent.domain.actions import Feedback
from edge_agent.domain.door import CodePresented
from smartstore.testing.broker import MosquittoBroker, free_port
from smartstore.testing.phone_app import PhoneApp, chromium, door_code_png, read_code_file
from tests.cloud_sync.conftest import make_token, wait_until
from tests.edge_agent.conftest import Sims, agent_settings
from tests.edge_agent.helpers import STORE, Members

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        chromium() is None, reason="chromium is not installed (apt-get install chromium chromium-driver)"
    ),
]
ON = bytes.fromhex("a00101a2")
SHOTS = Path("/tmp/shopper-app-shots")
CONTACT = "night.owl@example.org"


@dataclass
class Cloud:
    """The cloud service on a loopback port, with its operator headers and database."""

    url: str
    op: dict[str, str]
    settings: CloudSettings
    engine: Any


@pytest.fixture
def cloud(tmp_path: Path, broker: MosquittoBroker) -> Iterator[Cloud]:
    """Serve the cloud (API, app, downlink publisher on the test broker) with uvicorn."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cloud.db'}")
    upgrade(engine)
    settings = CloudSettings(
        database_url=str(engine.url),
        downlink_enabled=True,
        downlink_interval_s=0.5,
        downlink_key_file=tmp_path / "downlink-key.json",
        shopper_code_file=tmp_path / "codes.jsonl",
        **broker.cloud("downlink"),
    )
    downlink_key.load_or_create(tmp_path / "downlink-key.json")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_until(lambda: server.started, timeout=15)
    try:
        yield Cloud(
            f"http://127.0.0.1:{port}",
            {"Authorization": f"Bearer {make_token(engine, Role.OPERATOR)}"},
            settings,
            engine,
        )
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


class ShiftedClock:
    """The store's clock, which a test can move ahead of the phone's."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class Door:
    """The real agent with its simulators; ``show(png)`` holds a picture to its camera."""

    running: RunningAgent
    sims: Sims
    clock: ShiftedClock
    feedback: list[Feedback]
    clips: Path

    def show(self, png: bytes) -> tuple[list[str], Feedback]:
        """Play a short clip of the picture to the camera reader; return what it read and the door's answer."""
        before = len(self.feedback)
        picture = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None, "the screenshot is not a PNG"
        clip = self.clips / f"clip-{before}-{uuid.uuid4().hex[:6]}.avi"
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 15, (640, 480))
        h, w = picture.shape[:2]
        for i in range(8):
            frame = np.full((480, 640, 3), 90, np.uint8)  # a dim doorway, then the phone held up
            if i >= 3:
                y, x = (480 - h) // 2 + i, (640 - w) // 2 + 2 * i
                frame[y : y + h, x : x + w] = picture
            writer.write(frame)
        writer.release()
        seen: list[str] = []

        def on_code(text: str) -> None:
            seen.append(text)
            self.running.agent.submit(CodePresented(text, reader="camera"))

        reader = CameraReader(str(clip), on_code=on_code)
        reader.start()
        assert reader.finished.wait(10)
        assert wait_until(lambda: len(self.feedback) > before, 5), "the door gave no answer"
        return seen, self.feedback[before]


def _start_door(tmp_path: Path, sims: Sims, broker: MosquittoBroker, cloud: Cloud) -> Door:
    keys = httpx.get(f"{cloud.url}/api/v1/issuer-keys/public", headers=cloud.op).json()["keys"]
    raw = agent_settings(tmp_path, sims, broker, Members())
    Path(raw["issuer_keys_file"]).write_text(json.dumps(keys))  # the agent trusts the cloud's issuer
    pinned = tmp_path / "agent-downlink-keys.json"
    assert cloud.settings.downlink_key_file is not None
    pinned.write_bytes(dump(downlink_key.load(cloud.settings.downlink_key_file).announcement()))
    raw["downlink_keys_file"] = str(pinned)
    clock, feedback = ShiftedClock(), list[Feedback]()
    running = build_agent(AgentSettings.model_validate(raw), clock=clock, on_feedback=feedback.append)
    assert running.link is not None and wait_until(lambda: running.link is not None and running.link.connected, 10)
    clips = tmp_path / "clips"
    clips.mkdir()
    return Door(running, sims, clock, feedback, clips)


def _stock_the_store(cloud: Cloud) -> None:
    def post(path: str, body: dict[str, Any]) -> None:
        r = httpx.post(cloud.url + path, json=body, headers=cloud.op)
        assert r.status_code == 201, r.text

    post("/api/v1/stores", {"id": STORE, "name": "Night Store One"})
    post("/api/v1/products", {"id": "milk", "name": "Milk", "price_cents": 120})
    post(f"/api/v1/stores/{STORE}/restocks", {"lines": [{"product_id": "milk", "quantity": 5}]})


@pytest.mark.timeout(240)
def test_the_phone_opens_the_door_offline_and_shows_wallet_orders_receipts(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, cloud: Cloud
) -> None:
    SHOTS.mkdir(exist_ok=True)
    _stock_the_store(cloud)
    codes = cloud.settings.shopper_code_file
    assert codes is not None
    with PhoneApp(cloud.url) as phone:
        phone.open()
        assert phone.sign_in(CONTACT, lambda: read_code_file(codes, CONTACT)).startswith("Welcome")
        info = phone.get_pass("Test phone")
        assert 'Your pass is on "Test phone"' in info
        phone.screenshot(SHOTS / "1-pass.png")
        door = _start_door(tmp_path, sims, broker, cloud)
        try:
            # No network: the page reloads from the service worker, the pass from IndexedDB.
            phone.wait_offline_ready()
            phone.set_offline(True)
            phone.driver.refresh()
            phone.wait.until(lambda d: phone.el("home").is_displayed())
            code, window = phone.show_code(STORE)
            assert "No network" in phone.wait_text("code-status", "No network")
            assert phone.js("return document.getElementById('code-status').getAttribute('aria-live');") == "polite"
            phone.screenshot(SHOTS / "2-code-offline.png")
            png = phone.code_png()
            (SHOTS / "qr.png").write_bytes(png)

            door.clock.offset = 60.0  # the store's clock is a minute ahead: the code's window is over
            seen, answer = door.show(png)
            assert seen == [code] and not answer.granted and answer.reason is DenyReason.EXPIRED
            door.clock.offset = 0.0
            start = len(sims.lcus_host.received)
            seen, answer = door.show(png)
            assert seen == [code] and answer.granted, answer
            assert sims.lcus_host.wait_for(ON, 3, start=start) > 0  # THE DOOR OPENS
            seen, answer = door.show(png)
            assert not answer.granted and answer.reason is DenyReason.REPLAYED

            phone.set_offline(False)
            _wallet_order_receipt(phone, cloud)

            # A code of a later window, then an operator revokes the member.
            later, _ = phone.show_code(STORE, other_than=window)
            png_later = phone.code_png()
            me = httpx.get(f"{cloud.url}/api/v1/members", headers=cloud.op).json()["items"][0]["id"]
            assert httpx.post(f"{cloud.url}/api/v1/members/{me}/revoke", json={}, headers=cloud.op).status_code == 200
            sync = door.running.agent.sync
            assert sync is not None and wait_until(lambda: me in sync.synced.revoked_member_ids, 15)
            phone.el("check-pass").click()
            assert "revoked" in phone.wait_text("code-status", "revoked")
            assert not phone.el("code-box").is_displayed()
            phone.screenshot(SHOTS / "6-revoked.png")
            seen, answer = door.show(png_later)
            assert seen == [later] and not answer.granted and answer.reason is DenyReason.REVOKED
        finally:
            door.running.stop()


def _wallet_order_receipt(phone: PhoneApp, cloud: Cloud) -> None:
    phone.tab("wallet")
    phone.wait_text("balance", "0.00")
    amount = phone.el("topup-amount")
    amount.clear()
    amount.send_keys("20.00")
    phone.el("topup").click()
    assert "20.00" in phone.wait_text("notice", "Balance 20.00")
    phone.wait_text("wallet-history", "Top-up")
    phone.screenshot(SHOTS / "3-wallet.png")

    phone.tab("orders")
    phone.wait.until(lambda d: phone.js("return document.querySelectorAll('#products input').length;") == 1)
    qty = phone.js("return document.querySelector('#products input[data-product=\"milk\"]');")
    qty.clear()
    qty.send_keys("2")
    phone.el("place-order").click()
    assert "Pick it up by" in phone.wait_text("notice", "Order placed")
    line = phone.wait_text("order-list", "Ready for pickup")
    assert "Night Store One" in line and "2.40" in line and "pick up by" in line
    phone.screenshot(SHOTS / "4-orders.png")

    member = httpx.get(f"{cloud.url}/api/v1/members", headers=cloud.op).json()["items"][0]["id"]
    sale = SaleCompleted(
        store_id=STORE,
        sale_id=uuid.uuid4(),
        station_id="co1",
        member_id=member,
        lines=[SaleLine(product_id="milk", name="Milk", quantity=1, unit_price_cents=120, total_cents=120)],
        subtotal_cents=120,
        total_cents=120,
        payment_mode="online",
    )
    with make_session_factory(cloud.engine)() as session, session.begin():
        record_sales(session, [sale], LowStock())  # what the ingest does with a sale_completed
    phone.tab("receipts")
    receipt = phone.wait_text("receipt-list", "Milk")
    assert "1 × Milk" in receipt and "Total" in receipt and "1.20" in receipt
    phone.screenshot(SHOTS / "5-receipt.png")


@pytest.mark.timeout(120)
def test_the_demo_helper_returns_a_door_code_picture_made_by_the_page(cloud: Cloud) -> None:
    _stock_the_store(cloud)
    assert cloud.settings.shopper_code_file is not None
    png = door_code_png(cloud.url, "+1 555 000 1234", cloud.settings.shopper_code_file, STORE)
    assert png is not None
    picture = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    [text] = decode_qr(picture)
    code = decode_code(text)
    assert code.store_id == STORE and code.member_pass.member_id.startswith("m-")
    keys = httpx.get(f"{cloud.url}/api/v1/issuer-keys/public", headers=cloud.op).json()["keys"]
    assert verify_code(code, trusted_keys=decode_public_keys(keys), store_id=STORE, now=time.time())


@pytest.mark.timeout(60)
def test_without_the_qr_encoder_the_page_says_so(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cloud.db'}")
    upgrade(engine)
    settings = CloudSettings(
        database_url=str(engine.url), downlink_enabled=False, shopper_vendor_dir=tmp_path / "no-node-modules"
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started, timeout=15)
        with PhoneApp(f"http://127.0.0.1:{port}") as phone:
            phone.open()
            assert "QR drawing library is missing" in phone.wait_text("notice", "make setup")
            assert phone.el("contact").is_displayed()  # signing in still works
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()
