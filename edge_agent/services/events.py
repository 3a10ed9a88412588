"""The one path every event takes: outbox, outbox-overflow alarm, then a wake-up for the publisher."""

from __future__ import annotations

from contracts.messages import AlarmCleared, AlarmKind, AlarmRaised, Event
from contracts.topics import Topics
from edge_agent.domain.ports import EventSink, Publisher


class EventEmitter:
    """Append events to the outbox; after each batch check its bound and wake the publisher.

    Every service emits through one instance, so the overflow alarm is raised (and cleared) once
    for the whole agent, whichever service wrote the event that crossed the bound.
    """

    def __init__(self, sink: EventSink, topics: Topics, publisher: Publisher | None = None) -> None:
        """Write to ``sink`` under ``topics``; wake ``publisher`` (if any) after each batch."""
        self.sink = sink
        self.topics = topics
        self.publisher = publisher
        self._pending = False
        self._overflow_alarmed = False

    def append(self, event: Event) -> None:
        """Store one event of the current batch."""
        self.sink.append(event, self.topics.event(event.type))
        self._pending = True

    def flush(self) -> bool:
        """End a batch: raise or clear the overflow alarm, wake the publisher; return whether it held events."""
        if not self._pending:
            return False
        self._pending = False
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
