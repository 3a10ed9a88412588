"""A manager's PIN on a checkout station's keypad resolves its held review; other staff cannot."""

from __future__ import annotations

import time
from pathlib import Path

from contracts.messages import dump
from devices.pty import PtySimulatorHost
from devices.wiegand.simulator import WiegandSimulator
from edge_agent.bootstrap import build_agent
from edge_agent.config import AgentSettings
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.signing import signed
from smartstore.testing.staff import MANAGER_PIN, staff_entry, staff_list, type_pin
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings
from tests.edge_agent.helpers import STORE, Members
from tests.edge_agent.test_checkout_integration import Cloud, Station, _wait


def test_a_manager_pin_at_the_station_resolves_the_held_review(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    station, keypad = Station(tmp_path), WiegandSimulator(key_bits=8)
    keypad_host = PtySimulatorHost(keypad, tmp_path / "tty-co-keypad").start()
    cloud = Cloud(broker, approve=True)
    raw = agent_settings(tmp_path, sims, broker, members)
    raw["checkout"] = {
        "stations": [
            {
                "station_id": "co1",
                "scale": {"type": "mtsics", "url": station.hosts[0].path},
                "screen": {"type": "nextion", "url": station.hosts[1].path},
                "scanner": {"url": station.hosts[2].path},
                "readers": [{"type": "keypad", "url": keypad_host.path}],
            }
        ],
        "model": None,
    }
    running = build_agent(AgentSettings.model_validate(raw))
    try:
        cloud.publish_catalog()
        topic = f"smartstore/v1/{STORE}/sync/staff/snapshot"
        staff = staff_list(
            1,
            staff_entry("s-boss", STORE, "manager", pin=MANAGER_PIN),
            staff_entry("s-clean", STORE, "cleaner", pin="1111"),
        )
        cloud.client.publish(topic, signed(topic, dump(staff), fleet=True), qos=1, retain=True).wait_for_publish(5)
        sync = running.agent.sync
        assert sync is not None
        assert _wait(lambda: sync.synced.versions["catalog"] == 1 and sync.synced.versions["staff"] == 1)
        assert all(d.wait_online(5) for d in running.drivers if d.name == "co1-reader-1")
        station.scanner.scan(members.code("m-5", time.time()))
        assert _wait(lambda: station.screen.page.name == "basket")
        station.scale.model.place(1041.0, settle_s=0.2)
        station.scanner.scan("4006381333931")
        assert _wait(lambda: "Milk" in str(station.screen.value("t0", page="basket") or ""), 10)
        station.scale.model.place(341.0, settle_s=0.2)  # 700 g gone that matches nothing: held for staff
        co1 = running.agent.stations["co1"]
        assert _wait(lambda: co1.held, 10)

        type_pin(keypad, "1111")  # a cleaner: not allowed to resolve a review
        assert _wait(lambda: "not accepted" in str(station.screen.value("t0", page="home") or ""), 5)
        assert co1.held
        type_pin(keypad, MANAGER_PIN)
        assert _wait(lambda: not co1.held, 5)
        assert subscriber.wait_for(
            lambda _m: any(
                p.get("alarm") == "staff_review" for p in subscriber.payloads() if p.get("type") == "alarm_cleared"
            ),
            5,
        )
    finally:
        running.stop()
        cloud.close()
        keypad_host.stop()
        station.stop()
