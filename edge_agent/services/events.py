"""The one path every event takes: outbox, outbox-overflow alarm, then a wake-up for the publisher."""

from __future__ import annotations

import logging

from contracts.messages import AlarmCleared, AlarmKind, AlarmRaised, Event, ModeChanged, SyncApplied
from contracts.topics import Topics
from edge_agent.domain.ports import EventSink, Publisher

log = logging.getLogger("edge_agent.events")
BACKLOG_LOG_FROM = 100  # events waiting for the cloud before the backlog is worth a log line


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
        self._backlog_level = 0
        self.deferred = False  # while True, ``flush`` keeps collecting (the agent loop groups a burst)

    def append(self, event: Event) -> None:
        """Add one event to the current batch (written durably at ``flush``); log what an operator must know."""
        _log_event(event)
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
        self._check_backlog()
        if self.publisher is not None:
            self.publisher.notify()
        return True

    def _check_backlog(self) -> None:
        """Log when the events waiting for the cloud cross 100, 1,000, 10,000... and when they drain."""
        pending = len(self.sink)
        level = 10 ** len(str(pending)) // 10 if pending >= BACKLOG_LOG_FROM else 0
        if level > self._backlog_level:
            log.warning("%d events wait for the cloud (the broker or the cloud is not taking them)", pending)
        elif level == 0 and self._backlog_level:
            log.info("event backlog drained (%d waiting)", pending)
        self._backlog_level = level

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


def _log_event(event: Event) -> None:
    """Log alarms, mode changes and sync versions at info or above; decisions (member ids) at debug only."""
    if isinstance(event, AlarmRaised):
        log.log(
            logging.ERROR if event.severity == "critical" else logging.WARNING,
            "alarm %s raised by %s (%s)",
            event.alarm.value,
            event.source,
            event.severity,
        )
        log.debug("alarm %s detail: %s", event.alarm.value, event.detail)
    elif isinstance(event, AlarmCleared):
        log.info("alarm %s cleared by %s", event.alarm.value, event.source)
    elif isinstance(event, ModeChanged):
        log.info("mode %s%s (by %s)", event.mode.value, ", lockdown" if event.lockdown else "", event.by)
    elif isinstance(event, SyncApplied):
        log.info("sync %s version %d applied", event.channel, event.version)
    else:
        log.debug("event %s", event.type)
