"""Self-checkout end to end: scale, screen and scanner simulators on ptys, the agent, Mosquitto, a cloud."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contracts.messages import ResolveReviewCommand, dump
from contracts.payments import PaymentReply, parse_payment_request
from contracts.sync import CatalogProduct, CatalogSnapshot
from devices.mtsics.simulator import MtSicsSimulator
from devices.nextion.simulator import NextionSimulator
from devices.pty import PtySimulatorHost
from devices.scanner.simulator import ScannerSimulator
from edge_agent.bootstrap import RunningAgent, build_agent
from edge_agent.config import AgentSettings
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.signing import signed
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings
from tests.edge_agent.helpers import STORE, Members

MILK = CatalogProduct(
    id="milk", name="Milk 1 l", barcodes=["4006381333931"], unit_weight_g=1040, weight_tolerance_g=20, price_cents=129
)


class Cloud:
    """Publishes the catalog and answers payment requests like cloud_sync does."""

    def __init__(self, broker: MosquittoBroker, approve: bool | None, *, sign: bool = True) -> None:
        self.approve = approve
        self.sign = sign  # False: a forged answer (a compromised broker or someone on it)
        self.requests: list[dict] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fake-cloud")
        self.client.on_message = self._on_message
        broker.login(self.client)
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"smartstore/v1/{STORE}/pay/request", qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        request = parse_payment_request(msg.payload)
        self.requests.append(json.loads(msg.payload))
        if self.approve is None:
            return  # the cloud is unreachable for payments: no answer
        reply = PaymentReply(
            request_id=request.request_id,
            status="approved" if self.approve else "declined",
            authorization_id="auth-1" if self.approve else None,
            reason="" if self.approve else "insufficient_funds",
        )
        topic = f"smartstore/v1/{STORE}/pay/reply"
        client.publish(topic, signed(topic, dump(reply)) if self.sign else dump(reply), qos=1)

    def publish_catalog(self, *extra: CatalogProduct) -> None:
        snapshot = CatalogSnapshot(version=1, products=[MILK, *extra])
        topic = f"smartstore/v1/{STORE}/sync/catalog/snapshot"
        self.client.publish(topic, signed(topic, dump(snapshot)), qos=1, retain=True).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Station:
    def __init__(self, tmp_path: Path) -> None:
        self.scale = MtSicsSimulator()
        self.screen = NextionSimulator()
        self.scanner = ScannerSimulator()
        self.hosts = [
            PtySimulatorHost(self.scale, tmp_path / "tty-scale").start(),
            PtySimulatorHost(self.screen, tmp_path / "tty-screen").start(),
            PtySimulatorHost(self.scanner, tmp_path / "tty-co-scanner").start(),
        ]

    def stop(self) -> None:
        for h in self.hosts:
            h.stop()


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    st = Station(tmp_path)
    yield st
    st.stop()


def _start(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members, station: Station, **checkout: object
) -> RunningAgent:
    raw = agent_settings(tmp_path, sims, broker, members)
    raw["checkout"] = {
        "stations": [
            {
                "station_id": "co1",
                "scale": {"type": "mtsics", "url": station.hosts[0].path},
                "screen": {"type": "nextion", "url": station.hosts[1].path},
                "scanner": {"url": station.hosts[2].path},
            }
        ],
        "model": None,
        "auth_timeout_s": 1.5,
        **checkout,
    }
    return build_agent(AgentSettings.model_validate(raw))


def _wait(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _sales(sub: Subscriber) -> list[dict]:
    return [p for p in sub.payloads() if p.get("type") == "sale_completed"]


def _shop(station: Station, members: Members, subscriber: Subscriber, member: str) -> None:
    assert subscriber.wait_for(lambda msgs: any(b'"sync_applied"' in p and b'"catalog"' in p for _, p, _ in msgs), 10)
    station.scanner.scan(members.code(member, time.time()))
    assert _wait(lambda: station.screen.page.name == "basket")  # the session is open
    station.scale.model.place(1041.0, settle_s=0.2)
    # no camera: the station asks for a scan, then the barcode identifies the milk
    assert _wait(lambda: "scan" in str(station.screen.value("t0", page="home") or "").lower())
    station.scanner.scan("4006381333931")
    assert _wait(lambda: "Milk" in str(station.screen.value("t0", page="basket") or ""), 10), station.screen.value(
        "t0", page="home"
    )
    station.screen.touch("t4")  # Pay


def test_paid_online_after_barcode_fallback(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members, station: Station
) -> None:
    cloud = Cloud(broker, approve=True)
    running = _start(tmp_path, sims, broker, members, station)
    try:
        cloud.publish_catalog()
        _shop(station, members, subscriber, "m-1")
        assert subscriber.wait_for(lambda msgs: any(b'"sale_completed"' in p for _, p, _ in msgs), 10)
        sale = _sales(subscriber)[0]
        assert (sale["payment_mode"], sale["authorization_id"], sale["total_cents"]) == ("online", "auth-1", 129), (
            cloud.requests,
            running.agent.stations["co1"].snapshot().as_dict(),
        )
        assert sale["lines"][0]["product_id"] == "milk"
        assert cloud.requests[0]["amount_cents"] == 129
        assert _wait(lambda: "Paid" in str(station.screen.value("t0", page="home") or ""), 5)
        journal = (tmp_path / "data" / "sales.jsonl").read_text().splitlines()
        assert len(journal) == 1
    finally:
        running.stop()
        cloud.close()


def test_a_forged_payment_approval_releases_nothing(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members, station: Station
) -> None:
    cloud = Cloud(broker, approve=True, sign=False)
    running = _start(tmp_path, sims, broker, members, station, floor_limit_cents=500)
    try:
        cloud.publish_catalog()
        _shop(station, members, subscriber, "m-4")
        assert subscriber.wait_for(lambda msgs: any(b'"sale_completed"' in p for _, p, _ in msgs), 15)
        sale = _sales(subscriber)[0]
        # The forged "approved" is refused; the station waits it out and pays within its offline limit.
        assert (sale["payment_mode"], sale["authorization_id"]) == ("offline", None)
        alarms = [p for p in subscriber.payloads() if p.get("alarm") == "downlink_refused"]
        assert alarms and "pay/reply" in alarms[0]["detail"]
    finally:
        running.stop()
        cloud.close()


def test_offline_payment_within_floor_limit(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members, station: Station
) -> None:
    cloud = Cloud(broker, approve=None)  # the payment service does not answer
    running = _start(tmp_path, sims, broker, members, station, floor_limit_cents=500)
    try:
        cloud.publish_catalog()
        _shop(station, members, subscriber, "m-2")
        assert subscriber.wait_for(lambda msgs: any(b'"sale_completed"' in p for _, p, _ in msgs), 15)
        sale = _sales(subscriber)[0]
        assert sale["payment_mode"] == "offline"
        assert sale["authorization_id"] is None
    finally:
        running.stop()
        cloud.close()


def test_an_unplugged_scale_closes_the_checkout_until_it_is_back(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members, station: Station
) -> None:
    running = _start(tmp_path, sims, broker, members, station)
    co1 = running.agent.stations["co1"]
    try:
        assert _wait(lambda: "member code" in str(station.screen.value("t0", page="home") or ""))
        station.hosts[0].unplug()
        assert _wait(lambda: not co1.snapshot().scale_ok)
        assert _wait(lambda: "Out of order" in str(station.screen.value("t0", page="home") or ""))
        assert subscriber.wait_for(
            lambda msgs: any(b'"alarm_raised"' in p and b'"co1-scale"' in p for _, p, _ in msgs), 10
        )
        station.scanner.scan(members.code("m-3", time.time()))
        time.sleep(0.5)
        assert co1.snapshot().member_id is None  # nobody can start a basket that cannot be weighed
        station.hosts[0].replug()
        assert _wait(lambda: co1.snapshot().scale_ok)
        assert _wait(lambda: "member code" in str(station.screen.value("t0", page="home") or ""))
    finally:
        running.stop()


def _review_command(cloud: Cloud, station_id: str, product_id: str | None = None) -> str:
    """Publish a signed resolve_review command, as the cloud's operator API does; return its correlation id."""
    cmd = ResolveReviewCommand(
        correlation_id=f"rr-{time.monotonic_ns()}",
        expires_at=datetime.now(UTC) + timedelta(seconds=60),
        station_id=station_id,
        product_id=product_id,
        reason="staff checked the basket on camera",
    )
    topic = f"smartstore/v1/{STORE}/cmd/resolve_review"
    cloud.client.publish(topic, signed(topic, dump(cmd)), qos=1).wait_for_publish(5)
    return cmd.correlation_id


def _reply(sub: Subscriber, cid: str) -> dict | None:
    return next((r for r in sub.payloads("/cmd/resolve_review/reply") if r["correlation_id"] == cid), None)


def test_an_operator_resolves_a_held_basket_remotely_and_the_shopper_can_pay(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members, station: Station
) -> None:
    cloud = Cloud(broker, approve=True)
    running = _start(tmp_path, sims, broker, members, station)
    try:
        cloud.publish_catalog()
        assert subscriber.wait_for(lambda m: any(b'"sync_applied"' in p and b'"catalog"' in p for _, p, _ in m), 10)
        nothing = _review_command(cloud, "co1")
        assert subscriber.wait_for(lambda _m: _reply(subscriber, nothing) is not None, 10)
        assert _reply(subscriber, nothing)["status"] == "rejected"  # type: ignore[index]
        station.scanner.scan(members.code("m-5", time.time()))
        assert _wait(lambda: station.screen.page.name == "basket")
        station.scale.model.place(1041.0, settle_s=0.2)
        station.scanner.scan("4006381333931")
        assert _wait(lambda: "Milk" in str(station.screen.value("t0", page="basket") or ""), 10)
        station.scale.model.place(341.0, settle_s=0.2)  # 700 g taken off that matches nothing in the basket
        assert _wait(lambda: running.agent.stations["co1"].held, 10)
        unknown = _review_command(cloud, "co9")
        resolved = _review_command(cloud, "co1")  # staff looked: clear the hold
        assert subscriber.wait_for(lambda _m: _reply(subscriber, resolved) is not None, 10)
        assert _reply(subscriber, unknown)["status"] == "rejected"  # type: ignore[index]
        assert "co9" in _reply(subscriber, unknown)["error"]  # type: ignore[index]
        assert _reply(subscriber, resolved)["status"] == "ok"  # type: ignore[index]
        assert not running.agent.stations["co1"].held
        assert subscriber.wait_for(  # the event follows the reply through the outbox
            lambda m: any(b'"alarm_cleared"' in p and b'"staff_review"' in p for _, p, _ in m), 10
        )
        station.screen.touch("t4")  # Pay
        assert subscriber.wait_for(lambda m: any(b'"sale_completed"' in p for _, p, _ in m), 10)
        assert _sales(subscriber)[0]["lines"][0]["product_id"] == "milk"
    finally:
        running.stop()
        cloud.close()
