"""Interfaces the domain needs from the outside world (satisfied structurally by adapters)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from contracts.messages import Event


class Clock(Protocol):
    """Wall-clock time for validity checks, monotonic time for timers."""

    def time(self) -> float:
        """Return unix seconds."""
        ...

    def monotonic(self) -> float:
        """Return seconds on a clock that never jumps."""
        ...


class SystemClock:
    """The real clocks."""

    def time(self) -> float:
        """Return unix seconds."""
        return time.time()

    def monotonic(self) -> float:
        """Return monotonic seconds."""
        return time.monotonic()


class LockOutput(Protocol):
    """A relay that unlocks the door while energised."""

    def set_energised(self, on: bool) -> None:
        """Energise (unlock) or de-energise (lock)."""
        ...


class EventSink(Protocol):
    """Where events go: the durable outbox."""

    def append(self, event: Event, topic: str) -> Event:
        """Store an event durably and return it as stored."""
        ...

    def append_many(self, items: Sequence[tuple[Event, str]]) -> list[Event]:
        """Store several (event, topic) pairs in one durable transaction."""
        ...

    @property
    def overflowing(self) -> bool:
        """Return whether the sink holds more than its bound."""
        ...

    def __len__(self) -> int:
        """Return how many events wait for delivery (a cheap counter)."""
        ...


class Publisher(Protocol):
    """The broker side (``MqttLink``), absent when the agent runs without MQTT."""

    def notify(self) -> None:
        """Wake the outbox pump."""
        ...

    def publish_state(self, name: str, payload: bytes) -> None:
        """Publish a retained state snapshot."""
        ...

    def publish_reply(self, topic: str, payload: bytes) -> None:
        """Publish a command reply."""
        ...

    def clear_retained(self, topic: str) -> None:
        """Delete a retained message."""
        ...


class MessagePublisher(Protocol):
    """What payments need from the broker link."""

    def publish_message(self, topic: str, payload: bytes) -> None:
        """Publish a QoS 1, non-retained message."""
        ...


class CheckoutEffects(Protocol):
    """Carries out the checkout actions that need the outside world (screens, camera evidence, payments)."""

    def execute(self, station_id: str, action: object) -> None:
        """Run one action of a station."""
        ...


class ReplayStore(Protocol):
    """Durable record of the member codes used in the store (fingerprint -> wall-clock expiry)."""

    def load(self, now: float) -> dict[bytes, float]:
        """Return every fingerprint not yet expired at ``now`` with its expiry (unix seconds)."""
        ...

    def record(self, fingerprint: bytes, expires_at: float) -> None:
        """Store a used code durably (a process crash right after must not lose it)."""
        ...

    def prune(self, now: float) -> None:
        """Forget records expired at ``now``."""
        ...


class CommandJournal(Protocol):
    """Correlation ids of the commands a store has taken, kept across restarts (``CommandLog``)."""

    def claim(self, correlation_id: str, name: str, keep_until: float) -> bool:
        """Record ``correlation_id`` until ``keep_until`` (unix s); return False if it was already there."""
        ...

    def record_reply(self, correlation_id: str, reply: bytes) -> None:
        """Remember the reply sent for ``correlation_id``."""
        ...

    def reply_of(self, correlation_id: str) -> bytes | None:
        """Return the reply sent for ``correlation_id``, if any."""
        ...
