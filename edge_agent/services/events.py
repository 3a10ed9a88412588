"""The one path every event takes: outbox, outbox-overflow alarm, then a wake-up for the publisher."""

from __future__ import annotations

from contracts.messages import AlarmCleared, AlarmKind, AlarmRaised, Event
from contracts.topics import Topics
from edge_agent.domain.ports import EventSink, Publisher


class EventEmitter:
    """Append events to the outbox; after each batch check its bound and wake the publisher.

    The events of one batch (the actions one input produced) share one durable transaction, written
    at ``flush``: the lock and the screens have already been driven by then, so group commit costs
    the door no latency. Every service emits through one instance, so the overflow alarm is raised
    (and cleared) once for the whole agent, whichever service wrote the event that crossed the bound.
    """

    def __init__(self, sink: EventSink, topics: Topics, publisher: Publisher | None = None) -> None:
        """Write to ``sink`` under ``topics``; wake ``publisher`` (if any) after each batch."""
        self.sink = sink
        self.topics = topics
        self.publisher = publisher
        self._batch: list[tuple[Event, str]] = []
        self._overflow_alarmed = False
        self.deferred = False  # while True, ``flush`` keeps collecting (the agent loop groups a burst)

    def append(self, event: Event) -> None:
        """Add one event to the current batch (written durably at ``flush``)."""
        self._batch.append((event, self.topics.event(event.type)))

    def commit(self) -> bool:
        """End a deferred group: write everything collected since, whatever ``deferred`` said."""
        self.deferred = False
        return self.flush()

    def flush(self) -> bool:
        """End a batch: write its events in one transaction, raise or clear the overflow alarm, wake the publisher.

        Returns whether the batch held events.
        """
        if not self._batch or self.deferred:
            return False
        batch, self._batch = self._batch, []
        self.sink.append_many(batch)
        self._check_overflow()
        if self.publisher is not None:
            self.publisher.notify()
        return True

    def _check_overflow(self) -> None:
        """Raise (once) a critical alarm when the outbox holds more than its bound, clear it when back."""
        overflowing = bool(self.sink.overflowing)
        if overflowing == self._overflow_alarmed:
            return
        self._overflow_alarmed = overflowing
        event: Event
        if overflowing:
            event = AlarmRaised(
                store_id=self.topics.store_id,
                alarm=AlarmKind.OUTBOX_OVERFLOW,
                source="outbox",
                severity="critical",
                detail="outbox over its bound; nothing dropped",
            )
        else:
            event = AlarmCleared(store_id=self.topics.store_id, alarm=AlarmKind.OUTBOX_OVERFLOW, source="outbox")
        self.sink.append(event, self.topics.event(event.type))
