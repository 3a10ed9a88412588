"""End-to-end delivery bookkeeping: events the broker took that the cloud has not yet committed.

An event leaves the store only when the cloud acknowledges that it committed it
(``contracts.messages.DeliveryAck``). After the broker's PUBACK the outbox row stays; the tracker
gives it a deadline (``timeout_s``, doubled at every resend up to ``max_backoff_s``) and the pump
publishes it again, same event id and payload, once the deadline passes. The cloud's ingest is
idempotent on ``event_id``, so a resend costs a duplicate at most, never a second effect.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable


class AckTracker:
    """Rows handed to the broker and awaiting the cloud's acknowledgement, with their resend deadlines."""

    def __init__(
        self, timeout_s: float, *, max_backoff_s: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Resend a row ``timeout_s`` after its PUBACK, then after twice as long each time."""
        self.timeout_s = timeout_s
        self.max_backoff_s = max(timeout_s, max_backoff_s)
        self.clock = clock
        self._deadline: dict[int, float] = {}
        self._attempts: dict[int, int] = {}
        self._heap: list[tuple[float, int]] = []
        self.resends = 0

    def __len__(self) -> int:
        """Return how many rows await the cloud's acknowledgement (not counting those being resent)."""
        return len(self._deadline)

    def sent(self, row_id: int) -> None:
        """The broker took ``row_id`` (PUBACK): start waiting for the cloud."""
        attempts = self._attempts.get(row_id, 0)
        deadline = self.clock() + min(self.timeout_s * 2**attempts, self.max_backoff_s)
        self._deadline[row_id] = deadline
        heapq.heappush(self._heap, (deadline, row_id))

    def forget(self, row_ids: Iterable[int]) -> None:
        """The cloud committed these rows (or they are gone): stop tracking them."""
        for row_id in row_ids:
            self._deadline.pop(row_id, None)
            self._attempts.pop(row_id, None)

    def due(self, limit: int) -> list[int]:
        """Return up to ``limit`` rows whose deadline has passed, oldest row first, and count them as resent."""
        now = self.clock()
        found: list[int] = []
        while self._heap and len(found) < limit and self._heap[0][0] <= now:
            deadline, row_id = heapq.heappop(self._heap)
            if self._deadline.get(row_id) != deadline:
                continue  # acknowledged meanwhile, or a newer deadline is queued
            del self._deadline[row_id]
            self._attempts[row_id] = self._attempts.get(row_id, 0) + 1
            found.append(row_id)
        self.resends += len(found)
        return sorted(found)

    def next_deadline(self) -> float | None:
        """Return the earliest deadline still pending (monotonic seconds), or None."""
        while self._heap and self._deadline.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None
