"""A resend the link could not hand to paho (the broker went away mid-batch) is tried again later."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contracts.messages import AccessDenied, DenyReason
from contracts.topics import Topics
from edge_agent.adapters.mqtt import MqttLink
from edge_agent.adapters.outbox import Outbox
from tests.edge_agent.helpers import STORE


@dataclass
class _Info:
    rc: int
    mid: int


class _DropsAfterOne:
    """A paho stand-in whose connection is lost right after the first publish."""

    def __init__(self, link: MqttLink) -> None:
        self.link = link
        self.published: list[str] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> _Info:
        self.published.append(topic)
        self.link._connected = False
        return _Info(0, len(self.published))


def test_resends_not_handed_to_paho_keep_a_deadline(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    topics = Topics(STORE)
    rows = [
        outbox.append(AccessDenied(store_id=STORE, door_id="main", reason=DenyReason.MALFORMED), topics.event("x"))
        for _ in range(3)
    ]
    link = MqttLink(topics, outbox, ack_timeout_s=1.0)
    link._last_handed = rows[-1].seq  # all three went out once before
    fake = _DropsAfterOne(link)
    link.client = fake  # type: ignore[assignment]
    link._connected = True
    link._publish_rows(outbox.rows([r.seq for r in rows]))
    assert fake.published == [topics.event("x")]  # the link dropped after the first
    assert len(link.tracker) == 2  # the other two still wait for their turn, not forgotten
    assert link.tracker.next_deadline() is not None
    outbox.close()
