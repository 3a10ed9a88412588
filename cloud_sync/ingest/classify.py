"""Pure classification of received MQTT messages against the wire contract (no database).

Each message is routed with ``contracts.topics.route`` and its payload validated against the
topic map's entry; what fails lands in ``dead`` with the reason, for the dead-letter table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.errors import ContractError
from contracts.messages import Event
from contracts.payments import PaymentRequest
from contracts.topics import (
    AVAILABILITY,
    DEVICE_STATE,
    DOOR_STATE,
    EVENT,
    ONLINE,
    PAY_REQUEST,
    STATE,
    UnknownTopic,
    route,
)

StateValue = BaseModel | dict[str, Any] | None
"""A retained state: ``DoorState``, ``DeviceStatus``, another JSON object, or ``None`` (cleared)."""


@dataclass(frozen=True)
class Incoming:
    """One MQTT message as received (``mid``/``qos`` are needed to acknowledge it)."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 1
    retain: bool = False
    received: float = field(default_factory=time.time)


@dataclass
class Classified:
    """A batch sorted by what it carries; ``dead`` holds (message, reason, store or None)."""

    events: list[tuple[Incoming, Event]] = field(default_factory=list)
    availability: list[tuple[str, bool, Incoming]] = field(default_factory=list)
    states: list[tuple[str, str, StateValue, Incoming]] = field(default_factory=list)
    payments: list[tuple[PaymentRequest, Incoming]] = field(default_factory=list)
    dead: list[tuple[Incoming, str, str | None]] = field(default_factory=list)

    def store_ids(self) -> set[str]:
        """Return the stores the valid messages name."""
        stores = {e.store_id for _, e in self.events} | {s for s, _, _ in self.availability}
        return stores | {s for s, _, _, _ in self.states} | {r.store_id for r, _ in self.payments}


def classify(messages: Sequence[Incoming]) -> Classified:
    """Validate each message against the contract, without touching the database.

    Never raises: whatever one message makes the contract (or anything under it) raise sends
    that message to ``dead`` with the reason, and the others are classified as usual.
    """
    out = Classified()
    for msg in messages:
        try:
            _classify_one(out, msg)
        except Exception as err:  # anything else one payload can raise stays with that payload
            out.dead.append((msg, f"cannot classify: {type(err).__name__}: {err}"[:500], _store_of(msg.topic)))
    return out


def _classify_one(out: Classified, msg: Incoming) -> None:
    try:
        r = route(msg.topic)
    except UnknownTopic as err:
        out.dead.append((msg, str(err)[:500], err.store_id))
        return
    store = r.store_id
    try:
        if r.spec is EVENT:
            out.events.append((msg, EVENT.parse(r, msg.payload)))
        elif r.spec is AVAILABILITY:
            out.availability.append((store, AVAILABILITY.parse(r, msg.payload) == ONLINE, msg))
        elif r.spec in (DOOR_STATE, DEVICE_STATE, STATE):
            out.states.append((store, r.rest, r.spec.parse(r, msg.payload), msg))
        elif r.spec is PAY_REQUEST:
            out.payments.append((PAY_REQUEST.parse(r, msg.payload), msg))
        else:
            raise ContractError(f"unknown topic {r.kind}/{r.rest}")
    except (ContractError, ValidationError, ValueError) as err:
        out.dead.append((msg, str(err)[:500], store))


def _store_of(topic: str) -> str | None:
    """Return the store a topic names, if it names a valid one (for a dead letter)."""
    try:
        return route(topic).store_id
    except Exception:
        return None
