"""Who is inside, end to end: scripted passages on the Modbus simulator's beams, the real agent, Mosquitto."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devices.modbus.simulator import BEAM_INNER, BEAM_OUTER
from edge_agent.bootstrap import RunningAgent, build_agent
from edge_agent.config import AgentSettings
from smartstore.testing.broker import MosquittoBroker
from tests.edge_agent.conftest import Sims, Subscriber, agent_settings
from tests.edge_agent.helpers import Members

ON = bytes.fromhex("a00101a2")
COUNTER = 4
STEP_S = 0.2  # slower than a brisk walker, so a loaded test machine's input polls see every beam phase


def _start(tmp_path: Path, sims: Sims, broker: MosquittoBroker, members: Members, **inputs: object) -> RunningAgent:
    raw = agent_settings(tmp_path, sims, broker, members, held_open_s=2.0, passback_s=0)
    raw["inputs"].update(inputs)
    running = build_agent(AgentSettings.model_validate(raw))
    assert running.link is not None
    deadline = time.monotonic() + 5
    while not running.link.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    return running


@pytest.fixture
def agent(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> Iterator[RunningAgent]:
    """The agent with a pair of beams on inputs 2 (outer) and 3 (inner)."""
    running = _start(tmp_path, sims, broker, members, beam_outer_input=BEAM_OUTER, beam_inner_input=BEAM_INNER)
    try:
        yield running
    finally:
        running.stop()


def states(sub: Subscriber) -> list[dict]:
    """Return the door states published, in order."""
    return sub.payloads("/state/door")


def history(sub: Subscriber) -> list[tuple[int, int]]:
    """Return the (occupancy, unidentified) values the door state went through, repeats dropped."""
    seen: list[tuple[int, int]] = []
    for s in states(sub):
        if not seen or seen[-1] != (s["occupancy"], s["unidentified"]):
            seen.append((s["occupancy"], s["unidentified"]))
    return seen


def tailgating(sub: Subscriber) -> list[str]:
    return [p["detail"] for p in sub.payloads() if p.get("type") == "alarm_raised" and p["alarm"] == "tailgating"]


def closed_after(sub: Subscriber, wanted: list[tuple[int, int]]) -> Callable[[object], bool]:
    """Return a condition: the door went through ``wanted`` and its latest state is closed."""

    def done(_: object) -> bool:
        latest = states(sub)[-1:] or [{}]
        return history(sub) == wanted and latest[0].get("door") == "closed"

    return done


def enter(sims: Sims, members: Members, member: str, *passages: str) -> None:
    """Scan ``member``'s code, wait for the lock, then script one opening with ``passages``."""
    start = len(sims.lcus_host.received)
    sims.scanner.scan(members.code(member, time.time()))
    assert sims.lcus_host.wait_for(ON, 5, start=start) > 0
    sims.io.walk_through(list(passages), step_s=STEP_S)  # type: ignore[arg-type]
    assert sims.io.wait_script(15)


def test_two_people_on_one_grant_raise_tailgating(
    agent: RunningAgent, sims: Sims, subscriber: Subscriber, members: Members
) -> None:
    enter(sims, members, "m-1", "in", "in")
    assert subscriber.wait_for(closed_after(subscriber, [(0, 0), (1, 0), (2, 1)])), history(subscriber)
    assert subscriber.wait_for(lambda _: tailgating(subscriber) != [])
    assert tailgating(subscriber) == ["2 in on 1 grant: 1 unidentified inside"]
    assert "tailgating:main" in states(subscriber)[-1]["alarms"]


def test_one_leaving_while_another_enters_is_counted_right(
    agent: RunningAgent, sims: Sims, subscriber: Subscriber, members: Members
) -> None:
    enter(sims, members, "m-1", "in")
    assert subscriber.wait_for(closed_after(subscriber, [(0, 0), (1, 0)])), history(subscriber)
    enter(sims, members, "m-2", "out", "in")
    assert subscriber.wait_for(closed_after(subscriber, [(0, 0), (1, 0), (0, 0), (1, 0)])), history(subscriber)
    assert tailgating(subscriber) == []


def test_someone_entering_a_door_held_open_is_a_tailgater(
    agent: RunningAgent, sims: Sims, subscriber: Subscriber, members: Members
) -> None:
    start = len(sims.lcus_host.received)
    sims.scanner.scan(members.code("m-1", time.time()))
    assert sims.lcus_host.wait_for(ON, 5, start=start) > 0
    sims.io.schedule([(0.1, 0, True)])
    sims.io.passage("in", step_s=STEP_S)
    assert subscriber.wait_for(lambda msgs: any(b"door_held_open" in p for _, p, _ in msgs), timeout=10)
    sims.io.passage("in", step_s=STEP_S)  # the door still open, long after the grant
    sims.io.schedule([(0.3, 0, False)])
    assert subscriber.wait_for(closed_after(subscriber, [(0, 0), (1, 0), (2, 1)])), history(subscriber)
    assert subscriber.wait_for(lambda _: tailgating(subscriber) != [])
    assert tailgating(subscriber) == ["2 in on 1 grant: 1 unidentified inside"]


def test_exit_button_then_an_entry_from_outside_is_an_entry(
    agent: RunningAgent, sims: Sims, subscriber: Subscriber, members: Members
) -> None:
    enter(sims, members, "m-1", "in")
    assert subscriber.wait_for(closed_after(subscriber, [(0, 0), (1, 0)])), history(subscriber)
    start = len(sims.lcus_host.received)
    sims.io.schedule([(0.0, 1, True), (0.2, 1, False)])  # the exit button, pressed and released
    assert sims.lcus_host.wait_for(ON, 5, start=start) > 0
    sims.io.walk_through(["in"], step_s=STEP_S)  # but someone comes in from outside instead
    assert subscriber.wait_for(closed_after(subscriber, [(0, 0), (1, 0), (2, 1)])), history(subscriber)
    assert subscriber.wait_for(lambda _: tailgating(subscriber) != [])
    assert tailgating(subscriber) == ["1 in on 0 grants: 1 unidentified inside"]
    opened = [p["cause"] for p in subscriber.payloads() if p.get("type") == "door_opened"]
    assert opened == ["grant", "exit"]


def test_a_counting_beam_catches_a_tailgater_too(
    tmp_path: Path, sims: Sims, broker: MosquittoBroker, subscriber: Subscriber, members: Members
) -> None:
    running = _start(tmp_path, sims, broker, members, beam_input=COUNTER)
    try:
        start = len(sims.lcus_host.received)
        sims.scanner.scan(members.code("m-1", time.time()))
        assert sims.lcus_host.wait_for(ON, 5, start=start) > 0
        sims.io.tailgate(1, counter=COUNTER, step_s=STEP_S)
        assert subscriber.wait_for(closed_after(subscriber, [(0, 0), (1, 0), (2, 1)])), history(subscriber)
        assert subscriber.wait_for(lambda _: tailgating(subscriber) != [])
        assert tailgating(subscriber) == ["2 in on 1 grant: 1 unidentified inside"]
    finally:
        running.stop()
