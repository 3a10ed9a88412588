"""When a published event is sent again: after its timeout, doubling, oldest first, never once acknowledged."""

from __future__ import annotations

from edge_agent.adapters.delivery import AckTracker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rows_are_due_after_their_timeout_oldest_first_with_doubling_backoff() -> None:
    clock = Clock()
    tracker = AckTracker(2.0, max_backoff_s=5.0, clock=clock)
    for row in (3, 1, 2):
        tracker.sent(row)
    assert tracker.due(10) == []
    assert tracker.next_deadline() == 102.0
    clock.now = 102.0
    assert tracker.due(2) == [1, 2]  # at most the limit, oldest rows first
    assert tracker.due(10) == [3]
    assert len(tracker) == 0 and tracker.resends == 3
    tracker.sent(1)  # the resend reached the broker: now wait 4 s, then 5 s (the cap)
    clock.now = 105.9
    assert tracker.due(10) == []
    clock.now = 106.0
    assert tracker.due(10) == [1]
    tracker.sent(1)
    clock.now = 110.9
    assert tracker.due(10) == []
    clock.now = 111.0
    assert tracker.due(10) == [1]


def test_an_acknowledged_row_is_never_sent_again() -> None:
    clock = Clock()
    tracker = AckTracker(1.0, clock=clock)
    tracker.sent(7)
    tracker.sent(8)
    tracker.forget([7])
    clock.now += 10
    assert tracker.due(10) == [8]
    assert tracker.next_deadline() is None
