"""Every hardware combination of a checkout station finishes a sale, through the real agent and simulators.

Pole display + scanner (printed pay/cancel codes; the member code again), keypad + scanner without a
screen, and the touch screen; a scale label priced from the label; the platter zeroed and watched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.sync import CatalogProduct
from edge_agent.bootstrap import RunningAgent, build_agent
from edge_agent.config import AgentSettings
from edge_agent.domain.barcodes import EmbeddedLayout, make_embedded
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.stations import StationSims
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings
from tests.edge_agent.helpers import Members
from tests.edge_agent.test_checkout_integration import Cloud, _wait

CHEESE = CatalogProduct(
    id="cheese", name="Deli cheese", sold_by_weight=True, price_per_kg_cents=2000, item_code="12345"
)
WEIGHT_LABEL = "21PPPPPWWWWWC"
MILK_EAN = "4006381333931"


def _start(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members, station: StationSims, **checkout: object
) -> RunningAgent:
    raw = agent_settings(tmp_path, sims, broker, members)
    raw["checkout"] = {
        "stations": [station.settings()],
        "model": None,
        "auth_timeout_s": 1.5,
        "barcodes": {"labels": [{"prefix": "21", "kind": "weight", "item_digits": 5, "value_digits": 5}]},
        **checkout,
    }
    return build_agent(AgentSettings.model_validate(raw))


def _events(sub: Subscriber, kind: str) -> list[dict]:
    return [p for p in sub.payloads() if p.get("type") == kind]


def _milk_in_basket(station: StationSims, members: Members, sub: Subscriber, member: str) -> str:
    """Open a session and put a milk on the scale, identified by its barcode; return the member code."""
    assert sub.wait_for(lambda msgs: any(b'"sync_applied"' in p and b'"catalog"' in p for _, p, _ in msgs), 10)
    code = members.code(member, time.time())
    station.scan(code)
    assert _wait(lambda: "Welcome" in station.display() or "Milk" in station.display() or "TOTAL" in station.display())
    station.scale.model.place(1041.0, settle_s=0.2)
    assert _wait(lambda: "scan" in station.display().lower())
    station.scan(MILK_EAN)
    assert _wait(lambda: "Milk" in station.display()), station.display()
    return code


@pytest.fixture
def pole(tmp_path: Path) -> Iterator[StationSims]:
    st = StationSims.pole_only(tmp_path)
    yield st
    st.stop()


def test_a_pole_display_station_cancels_and_pays_by_its_printed_codes_and_prices_a_scale_label(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members, pole: StationSims
) -> None:
    cloud = Cloud(broker, approve=True)
    running = _start(tmp_path, sims, broker, members, pole)
    co1 = running.agent.stations["co1"]
    try:
        cloud.publish_catalog(CHEESE)
        _milk_in_basket(pole, members, subscriber, "m-1")
        assert pole.cancel_code is not None
        pole.scan(pole.cancel_code)
        assert subscriber.wait_for(lambda m: any(b'"checkout_abandoned"' in p for _, p, _ in m), 10)
        pole.scale.model.place(0.0, settle_s=0.1)  # the shopper puts the milk back on the shelf
        assert _wait(lambda: co1.platter_g == 0.0)
        pole.scan(members.code("m-2", time.time()))
        assert _wait(lambda: co1.snapshot().member_id == "m-2")
        label = make_embedded(EmbeddedLayout.parse(WEIGHT_LABEL), "12345", 412)  # 0.412 kg of cheese
        pole.scan(label)
        assert _wait(lambda: "on the scale" in pole.display() or "Now place" in pole.display()), pole.display()
        pole.scale.model.place(414.0, settle_s=0.2)  # the scale agrees with the label within its tolerance
        assert _wait(lambda: co1.snapshot().total_cents == 824), co1.snapshot().as_dict()
        pole.pay()  # scans PAY-co1
        assert subscriber.wait_for(lambda m: any(b'"sale_completed"' in p for _, p, _ in m), 10)
        [sale] = _events(subscriber, "sale_completed")
        assert (sale["member_id"], sale["total_cents"], sale["payment_mode"]) == ("m-2", 824, "online")
        assert sale["lines"][0]["product_id"] == "cheese" and sale["lines"][0]["weight_g"] == 412.0
        assert pole.pole is not None and pole.pole.wait_for_lines(("Paid - thank you!", "TOTAL 8.24"), 5)
        assert co1.paid_by == {"scanner": 1}
    finally:
        running.stop()
        cloud.close()


def test_a_pole_display_station_pays_by_the_member_code_shown_again(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    station = StationSims(tmp_path, screen="escpos")  # no printed codes
    cloud = Cloud(broker, approve=True)
    running = _start(tmp_path, sims, broker, members, station)
    try:
        cloud.publish_catalog()
        code = _milk_in_basket(station, members, subscriber, "m-3")
        station.scan(code)  # the phone still shows the code that opened the session
        assert subscriber.wait_for(lambda m: any(b'"sale_completed"' in p for _, p, _ in m), 10)
        assert _events(subscriber, "sale_completed")[0]["total_cents"] == 129
        assert running.agent.stations["co1"].paid_by == {"member_code": 1}
    finally:
        running.stop()
        cloud.close()
        station.stop()


def test_a_station_without_a_screen_pays_from_its_keypad(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    station = StationSims(tmp_path, screen=None, keypad=True)
    cloud = Cloud(broker, approve=True)
    running = _start(tmp_path, sims, broker, members, station)
    co1 = running.agent.stations["co1"]
    try:
        cloud.publish_catalog()
        assert subscriber.wait_for(lambda m: any(b'"sync_applied"' in p and b'"catalog"' in p for _, p, _ in m), 10)
        station.scan(members.code("m-4", time.time()))
        assert _wait(lambda: co1.snapshot().member_id == "m-4")
        station.scale.model.place(1041.0, settle_s=0.2)
        station.scan(MILK_EAN)
        assert _wait(lambda: co1.snapshot().total_cents == 129)
        station.pay()  # the keypad's #
        assert subscriber.wait_for(lambda m: any(b'"sale_completed"' in p for _, p, _ in m), 10)
        assert co1.paid_by == {"keypad": 1}
    finally:
        running.stop()
        cloud.close()
        station.stop()


def test_the_scale_is_zeroed_when_empty_and_a_forgotten_bag_raises_scale_not_empty(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    station = StationSims(tmp_path)  # the touch screen
    station.scale.model.place(2.5, settle_s=0.1)  # drift on the empty platter before the agent starts
    raw_station = station.settings() | {"clear_timeout_s": 1.0}
    cloud = Cloud(broker, approve=True)
    raw = agent_settings(tmp_path, sims, broker, members)
    raw["checkout"] = {"stations": [raw_station], "model": None, "auth_timeout_s": 1.5}
    running = build_agent(AgentSettings.model_validate(raw))
    co1 = running.agent.stations["co1"]
    try:
        assert _wait(lambda: any(c.name == "Z" for c in station.scale.commands)), station.scale.commands
        assert _wait(lambda: station.scale.model.zero_offset_g == 2.5 and co1.platter_g == 0.0)
        cloud.publish_catalog()
        _milk_in_basket(station, members, subscriber, "m-5")
        station.pay()
        assert subscriber.wait_for(lambda m: any(b'"sale_completed"' in p for _, p, _ in m), 10)
        # The milk (1041 g less the 2.5 g zeroed away) is left behind: after clear_timeout_s an alarm.
        assert subscriber.wait_for(lambda m: any(b'"scale_not_empty"' in p for _, p, _ in m), 10)
        [raised] = [a for a in _events(subscriber, "alarm_raised") if a["alarm"] == "scale_not_empty"]
        assert (raised["source"], raised["detail"]) == (
            "co1",
            "1038.5 g left on the scale after a basket",
        )  # net of zero
        station.scan(members.code("m-6", time.time()))  # the next shopper is not handed the bag
        assert _wait(lambda: "Take everything off" in station.display())
        assert co1.snapshot().member_id is None
        station.scale.model.place(2.5, settle_s=0.1)  # they take the bag away
        assert subscriber.wait_for(
            lambda m: any(b'"alarm_cleared"' in p and b'"scale_not_empty"' in p for _, p, _ in m), 10
        )
        assert _wait(lambda: co1.snapshot().member_id == "m-6")  # and their session opens by itself
    finally:
        running.stop()
        cloud.close()
        station.stop()
