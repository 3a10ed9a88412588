"""The SQLite outbox: ordered, durable, bounded with priorities."""

from __future__ import annotations

from pathlib import Path

from contracts.messages import AccessDenied, DenyReason, Telemetry
from edge_agent.adapters.outbox import Outbox


def _denied(i: int) -> AccessDenied:
    return AccessDenied(store_id="s1", door_id="main", reason=DenyReason.MALFORMED, detail=str(i))


def test_rows_come_back_in_order_with_sequence_numbers(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    stored = [box.append(_denied(i), "t") for i in range(5)]
    assert [s.seq for s in stored] == sorted(s.seq for s in stored)
    rows = box.pending()
    assert [r.id for r in rows] == [s.seq for s in stored]
    assert box.pending(after_id=rows[1].id, limit=2) == rows[2:4]
    box.delete_many([rows[0].id, rows[1].id])
    assert len(box) == 3
    assert box.counters()["delivered"] == 2


def test_cloud_acknowledgement_forgets_exactly_the_committed_events(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    stored = [box.append(_denied(i), "t") for i in range(4)]
    assert box.oldest_created() == stored[0].ts.timestamp()
    forgotten = box.acknowledge([str(stored[2].event_id), str(stored[0].event_id), "not-ours"])
    assert sorted(forgotten) == [stored[0].seq, stored[2].seq]
    assert [r.id for r in box.pending()] == [stored[1].seq, stored[3].seq]
    assert box.acknowledge([str(stored[0].event_id)]) == []  # a repeated acknowledgement is harmless
    assert (len(box), box.counters()["delivered"]) == (2, 2)
    box.acknowledge([str(s.event_id) for s in stored])
    assert box.oldest_created() is None


def test_survives_reopen_and_never_reuses_sequence_numbers(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    first = box.append(_denied(1), "t")
    box.delete_many([first.seq])
    box.close()
    again = Outbox(tmp_path / "o.db")
    second = again.append(_denied(2), "t")
    assert second.seq > first.seq
    assert len(again) == 1
    assert again.counters()["written"] == 2


def test_full_outbox_drops_oldest_telemetry_and_never_critical(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_rows=5)
    for i in range(3):
        box.append(Telemetry(store_id="s1", values={"i": float(i)}), "telemetry")
    for i in range(4):
        box.append(_denied(i), "denied")
    topics = [r.topic for r in box.pending(limit=100)]
    assert topics.count("denied") == 4  # every critical event kept
    assert topics.count("telemetry") == 1  # the two oldest telemetry rows went
    assert box.counters()["dropped"] == 2
    for i in range(3):
        box.append(_denied(10 + i), "denied")
    assert len(box) == 7  # the last telemetry row made room once; then critical rows exceed the bound
    counters = box.counters()
    assert counters["overflow"] >= 1
    assert counters["dropped"] == 3


def test_agent_raises_outbox_overflow_alarm_once(tmp_path: Path) -> None:
    from contracts.topics import Topics
    from edge_agent.agent import Inbox, StoreAgent
    from edge_agent.domain.door import CodePresented
    from edge_agent.services.door import DoorService
    from edge_agent.services.events import EventEmitter
    from tests.edge_agent.helpers import make_controller

    class NoLock:
        def set_energised(self, on: bool) -> None:
            pass

    box = Outbox(tmp_path / "o.db", max_rows=100)
    ctl, _, _ = make_controller()
    agent = StoreAgent(Inbox(), door=DoorService(ctl, NoLock(), EventEmitter(box, Topics("store-1"))))
    agent.start()
    for i in range(120):
        agent.submit(CodePresented(f"junk-{i}"))
    assert agent.wait_idle(10)
    agent.stop()
    alarms = [r for r in box.pending(limit=1000) if r.topic.endswith("/alarm_raised")]
    assert len(alarms) == 1
    assert b"outbox_overflow" in alarms[0].payload
