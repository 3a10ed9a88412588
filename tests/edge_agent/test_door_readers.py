"""Readers by configuration at the door: Wiegand, keypad and OSDP simulators on ptys, the real agent.

Staff reach the agent as the cloud sends them (a signed ``staff`` snapshot, then a signed delta
that revokes one); cards and PINs typed on the simulators go through the staff check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contracts.messages import dump
from contracts.sync import StaffDelta
from contracts.topics import Topics
from devices.osdp.profiles import TEST_SCBK
from devices.osdp.simulator import OsdpSimulator
from devices.pty import PtySimulatorHost
from devices.wiegand.simulator import WiegandSimulator
from edge_agent.bootstrap import RunningAgent, build_agent
from edge_agent.config import AgentSettings
from edge_agent.domain.door import LockState
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.signing import signed
from smartstore.testing.staff import RESTOCKER_BADGE, present_card, staff_entry, staff_list, type_pin
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings
from tests.edge_agent.helpers import STORE, Members

ON = bytes.fromhex("a00101a2")
T = Topics(STORE)


@pytest.fixture
def readers(tmp_path: Path) -> Iterator[tuple[WiegandSimulator, WiegandSimulator, OsdpSimulator]]:
    """A Wiegand converter, an 8-bit keypad and an OSDP reader with the secure channel, on ptys."""
    wiegand, keypad, osdp = WiegandSimulator(), WiegandSimulator(key_bits=8), OsdpSimulator(1, TEST_SCBK)
    hosts = [
        PtySimulatorHost(wiegand, tmp_path / "tty-wiegand").start(),
        PtySimulatorHost(keypad, tmp_path / "tty-keypad").start(),
        PtySimulatorHost(osdp, tmp_path / "tty-osdp").start(),
    ]
    try:
        yield wiegand, keypad, osdp
    finally:
        for host in hosts:
            host.stop()


@pytest.fixture
def cloud(broker: MosquittoBroker) -> Iterator[Callable[[str, bytes], None]]:
    """Publish signed downlink messages to the store as the cloud does."""
    client = broker.login(mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pretend-cloud"))
    client.connect(broker.host, broker.port)
    client.loop_start()

    def publish(topic: str, payload: bytes) -> None:
        client.publish(
            topic, signed(topic, payload, fleet=True), qos=1, retain=topic.endswith("/snapshot")
        ).wait_for_publish(5)

    try:
        yield publish
    finally:
        client.loop_stop()
        client.disconnect()


@pytest.fixture
def agent(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members, readers: object
) -> Iterator[RunningAgent]:
    key = tmp_path / "osdp.key"
    key.write_text(TEST_SCBK.hex())
    raw = agent_settings(tmp_path, sims, broker, members)
    raw["readers"] = [
        {"type": "wiegand", "url": str(tmp_path / "tty-wiegand")},
        {"type": "keypad", "url": str(tmp_path / "tty-keypad")},
        {"type": "osdp", "url": str(tmp_path / "tty-osdp"), "scbk_file": str(key)},
    ]
    running = build_agent(AgentSettings.model_validate(raw))
    assert running.link is not None
    try:
        assert _until(lambda: running.link is not None and running.link.connected)
        assert all(d.wait_online(5) for d in running.drivers if d.name.startswith("reader-"))
        yield running
    finally:
        running.stop()


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _decisions(sub: Subscriber) -> list[dict]:
    return [p for p in sub.payloads() if p.get("type") in ("access_granted", "access_denied")]


def _next_decision(sub: Subscriber, seen: int) -> dict:
    assert sub.wait_for(lambda msgs: len(_decisions(sub)) > seen), "no door decision"
    return _decisions(sub)[seen]


def test_cards_and_pins_on_every_configured_reader_go_through_the_staff_check(
    agent: RunningAgent,
    sims: Sims,
    subscriber: Subscriber,
    cloud: Callable[[str, bytes], None],
    readers: tuple[WiegandSimulator, WiegandSimulator, OsdpSimulator],
) -> None:
    wiegand, keypad, osdp = readers
    now = datetime.now(UTC)
    later = f"{(now + timedelta(hours=2)):%H}:00-{(now + timedelta(hours=3)):%H}:00"  # not now, in the door's zone
    cloud(
        T.sync_snapshot("staff"),
        dump(
            staff_list(
                1,
                staff_entry("s-restock", STORE, "restocker", card=RESTOCKER_BADGE),
                staff_entry("s-night", STORE, "restocker", card="12:999", hours=(later,)),
                staff_entry("s-boss", STORE, "manager", pin="2580"),
                staff_entry("s-clean", STORE, "cleaner", card="7:777"),
                staff_entry("s-other", "store-2", "manager", card="7:778"),
            )
        ),
    )
    sync = agent.agent.sync
    assert sync is not None
    assert _until(lambda: sync.synced.versions["staff"] == 1)
    door = agent.agent.door
    assert door is not None

    # the restocker's badge on the Wiegand reader: the lock opens, a staff entry, no shopper counted
    start = len(sims.lcus_host.received)
    present_card(wiegand, RESTOCKER_BADGE)
    granted = _next_decision(subscriber, 0)
    assert (granted["type"], granted["via"], granted["staff_id"], granted["staff_role"]) == (
        "access_granted",
        "staff",
        "s-restock",
        "restocker",
    )
    assert sims.lcus_host.wait_for(ON, 3, start=start) > 0
    sims.io.set_input(0, True)  # the restocker walks in
    assert subscriber.wait_for(lambda msgs: any(b'"door_opened"' in p for _, p, _ in msgs))
    assert [p["cause"] for p in subscriber.payloads() if p.get("type") == "door_opened"] == ["grant"]
    assert door.controller.occupancy == 0
    sims.io.set_input(0, False)

    type_pin(keypad, "2580")  # the manager's PIN on the keypad
    pin = _next_decision(subscriber, 1)
    assert (pin["type"], pin["staff_id"]) == ("access_granted", "s-boss")

    assert _until(lambda: osdp.sc_active)  # OSDP: the card number crosses the secure channel
    present_card(osdp, "7:777")
    assert (_next_decision(subscriber, 2)["staff_id"]) == "s-clean"

    present_card(wiegand, "12:999")  # a restocker outside their schedule
    late = _next_decision(subscriber, 3)
    assert (late["type"], late["reason"]) == ("access_denied", "outside_hours")
    present_card(osdp, "7:778")  # another store's staff
    assert _next_decision(subscriber, 4)["reason"] == "unknown_credential"

    # revoked in the cloud: the delta reaches the store, and the badge no longer opens the door
    cloud(T.sync_delta("staff"), dump(StaffDelta(from_version=1, version=2, remove_ids=["s-restock"])))
    assert _until(lambda: sync.synced.versions["staff"] == 2)
    assert _until(lambda: door.controller.lock is LockState.LOCKED)  # the last grant has relocked
    relay = len(sims.lcus_host.received)
    present_card(osdp, RESTOCKER_BADGE)
    refused = _next_decision(subscriber, 5)
    assert (refused["type"], refused["reason"]) == ("access_denied", "unknown_credential")
    assert door.controller.lock is LockState.LOCKED
    assert ON not in bytes(sims.lcus_host.received[relay:])  # the relay was never asked to open
