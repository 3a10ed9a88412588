"""MQTT topic names shared by the store agent and the cloud (see docs/mqtt.md).

Everything lives under ``smartstore/v1/{store_id}/``:

- ``agent/availability``: ``online`` / ``offline`` (retained; ``offline`` is the last will).
- ``state/{name}``: retained JSON snapshots (door, mode, devices, outbox).
- ``events/{type}``: QoS 1, never retained; each payload carries ``event_id``, ``ts``,
  ``schema_version`` and a per-agent ``seq``.
- ``cmd/{name}``: operator commands, never retained (an agent ignores retained ones);
  the reply goes to ``cmd/{name}/reply`` and echoes ``correlation_id``.
- ``sync/...``: cloud to store downlink (catalog, members, coupons), see ``contracts.sync``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contracts.errors import ContractError

PREFIX = "smartstore/v1"
STORE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ONLINE = "online"
OFFLINE = "offline"


def check_store_id(store_id: str) -> str:
    """Return ``store_id`` if it is a valid single topic level, else raise ContractError."""
    if not STORE_ID_RE.fullmatch(store_id):
        raise ContractError(f"invalid store id {store_id!r}: use 1-64 of [A-Za-z0-9_-]")
    return store_id


@dataclass(frozen=True)
class Topics:
    """Topic builder for one store."""

    store_id: str

    def __post_init__(self) -> None:
        """Validate the store id once."""
        check_store_id(self.store_id)

    @property
    def base(self) -> str:
        """Return the store's topic root."""
        return f"{PREFIX}/{self.store_id}"

    @property
    def availability(self) -> str:
        """Return the retained availability topic (last will ``offline``)."""
        return f"{self.base}/agent/availability"

    def state(self, name: str) -> str:
        """Return the retained state topic ``state/{name}``."""
        return f"{self.base}/state/{name}"

    def event(self, event_type: str) -> str:
        """Return the event topic for ``event_type``."""
        return f"{self.base}/events/{event_type}"

    def command(self, name: str) -> str:
        """Return the command topic ``cmd/{name}``."""
        return f"{self.base}/cmd/{name}"

    def reply(self, name: str) -> str:
        """Return the reply topic of command ``name``."""
        return f"{self.base}/cmd/{name}/reply"

    @property
    def commands_filter(self) -> str:
        """Return the subscription filter matching every command to this store."""
        return f"{self.base}/cmd/+"

    def sync(self, name: str) -> str:
        """Return the downlink topic ``sync/{name}``."""
        return f"{self.base}/sync/{name}"


# Filters used by the cloud side (all stores).
ALL_EVENTS = f"{PREFIX}/+/events/+"
ALL_AVAILABILITY = f"{PREFIX}/+/agent/availability"
ALL_STATE = f"{PREFIX}/+/state/+"
ALL_REPLIES = f"{PREFIX}/+/cmd/+/reply"


def parse_topic(topic: str) -> tuple[str, str, str]:
    """Split ``smartstore/v1/{store}/{kind}/{rest}`` into (store, kind, rest).

    Raises:
        ContractError: the topic is not under the prefix or is too short.
    """
    head = PREFIX + "/"
    if not topic.startswith(head):
        raise ContractError(f"topic {topic!r} is not under {PREFIX}/")
    parts = topic[len(head) :].split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise ContractError(f"topic {topic!r} is not {PREFIX}/<store>/<kind>/<name>")
    store, kind, rest = parts
    check_store_id(store)
    return store, kind, rest
