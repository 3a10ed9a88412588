"""The services around the pure core: one emit path for every service, a checkout without a door."""

from __future__ import annotations

import pytest

from contracts.messages import AlarmRaised, EventBase, ExitRequested
from contracts.topics import Topics
from edge_agent.agent import Inbox, StoreAgent
from edge_agent.domain import door as door_module
from edge_agent.domain.actions import Emit
from edge_agent.domain.checkout import Pay
from edge_agent.domain.door import LockState, LockTrigger, next_lock_state
from edge_agent.services.checkout import CheckoutService, StationInput
from edge_agent.services.events import EventEmitter
from tests.edge_agent.checkout.kit import make_rig
from tests.edge_agent.helpers import STORE


class FullSink:
    """An outbox that is always over its bound."""

    overflowing = True

    def __init__(self) -> None:
        self.rows: list[tuple[EventBase, str]] = []

    def append(self, event: EventBase, topic: str) -> EventBase:
        self.rows.append((event, topic))
        return event

    def append_many(self, items: list[tuple[EventBase, str]]) -> list[EventBase]:
        return [self.append(event, topic) for event, topic in items]

    def __len__(self) -> int:
        return len(self.rows)


class EmittingStation:
    """A station stand-in that emits one event per input."""

    def __init__(self) -> None:
        self.verifier = None

    def handle(self, item: object) -> list[object]:
        return [Emit(ExitRequested(store_id=STORE, door_id="main"))] if isinstance(item, Pay) else []

    def start(self) -> list[object]:
        return []

    def snapshot(self) -> object:  # pragma: no cover - no publisher in these tests
        raise AssertionError


def test_station_events_take_the_same_path_as_the_door_s_and_raise_the_overflow_alarm_once() -> None:
    sink = FullSink()
    service = CheckoutService({"co1": EmittingStation()}, EventEmitter(sink, Topics(STORE)))  # type: ignore[dict-item]
    service.handle(StationInput("co1", Pay()))
    service.handle(StationInput("co1", Pay()))
    alarms = [e for e, _ in sink.rows if isinstance(e, AlarmRaised)]
    assert [a.alarm.value for a in alarms] == ["outbox_overflow"]
    assert len(sink.rows) == 3


def test_a_checkout_runs_without_a_door() -> None:
    rig = make_rig()
    sink = FullSink()
    sink.overflowing = False
    inbox = Inbox()
    agent = StoreAgent(inbox, checkout=CheckoutService({"co1": rig.station}, EventEmitter(sink, Topics(STORE))))
    agent.start()
    inbox.submit_station("co1", Pay())
    assert agent.wait_idle(5)
    agent.stop()
    assert agent.stations == {"co1": rig.station}


def test_an_illegal_lock_transition_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    assert next_lock_state(LockState.HELD, LockTrigger.SHUTDOWN) is LockState.LOCKED
    monkeypatch.delitem(door_module.LOCK_TRANSITIONS, (LockState.LOCKED, LockTrigger.GRANT))
    with pytest.raises(RuntimeError, match="illegal lock transition"):
        next_lock_state(LockState.LOCKED, LockTrigger.GRANT)


class CountingSink(FullSink):
    """A sink that records each durable transaction (one call of ``append_many``)."""

    overflowing = False

    def __init__(self) -> None:
        super().__init__()
        self.transactions: list[int] = []

    def append_many(self, items: list[tuple[EventBase, str]]) -> list[EventBase]:
        self.transactions.append(len(items))
        return super().append_many(items)


def test_events_of_inputs_that_arrive_together_share_one_transaction() -> None:
    sink = CountingSink()
    emitter = EventEmitter(sink, Topics(STORE))
    inbox = Inbox()
    agent = StoreAgent(inbox, checkout=CheckoutService({"co1": EmittingStation()}, emitter), emitter=emitter)  # type: ignore[dict-item]
    for _ in range(5):
        inbox.submit_station("co1", Pay())  # queued before the loop runs: one burst
    agent.start()
    assert agent.wait_idle(5)
    inbox.submit_station("co1", Pay())  # on its own: its own transaction
    assert agent.wait_idle(5)
    agent.stop()
    assert sink.transactions == [5, 1]
    assert len(sink.rows) == 6
