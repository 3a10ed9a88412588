"""Turn what arrives from the broker into agent inputs (paho's network thread).

Commands and downlink sync messages are parsed here, off the decision thread; anything that has
to be published in answer (an error reply, clearing a retained command) is done by the door
service on the decision thread, so this side needs no broker handle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

from contracts.errors import ContractError
from contracts.messages import CommandReply
from contracts.topics import COMMAND, SYNC_DELTA, SYNC_MANIFEST, SYNC_SNAPSHOT, Topics, route
from edge_agent.domain.checkout import ConnectivityChanged
from edge_agent.services.checkout import StationInput
from edge_agent.services.door import CommandArrived, CommandRefused
from edge_agent.services.stats import AgentStats
from edge_agent.services.sync import SyncReceived

log = logging.getLogger(__name__)

DownlinkInput = CommandArrived | CommandRefused | SyncReceived | StationInput


class Downlink:
    """The MQTT handlers of one agent: commands, downlink sync and connectivity."""

    def __init__(
        self,
        topics: Topics,
        submit: Callable[[DownlinkInput], None],
        *,
        station_ids: Sequence[str] = (),
        stats: AgentStats | None = None,
    ) -> None:
        """Queue inputs with ``submit``; tell stations ``station_ids`` when the link goes up or down."""
        self.topics = topics
        self.submit = submit
        self.station_ids = tuple(station_ids)
        self.stats = stats or AgentStats()

    def on_connection(self, up: bool) -> None:
        """Tell every station whether the cloud is reachable."""
        for station_id in self.station_ids:
            self.submit(StationInput(station_id, ConnectivityChanged(up)))

    def on_command(self, topic: str, payload: bytes, retained: bool) -> None:
        """Turn an MQTT command into an input, or into the error reply it deserves."""
        if not payload:
            return  # an empty payload clears a retained message; it is not a command
        self.stats.commands += 1
        try:
            found = route(topic)
            if found.spec is not COMMAND or found.store_id != self.topics.store_id:
                raise ContractError(f"topic {topic!r} is not a command for this store")
            command = COMMAND.parse(found, payload)
        except ContractError as err:
            self.stats.bad_commands += 1
            name = topic.rsplit("/", 1)[-1]
            reply = CommandReply(correlation_id=_correlation_of(payload), name=name, status="error", error=str(err))
            self.submit(CommandRefused(reply))
            return
        self.submit(CommandArrived(topic, command, retained=retained))

    def on_sync(self, topic: str, payload: bytes, retained: bool) -> None:
        """Parse a downlink message and queue it; bad payloads are counted and logged."""
        try:
            found = route(topic)
            if found.spec is SYNC_MANIFEST or not payload:
                return
            if found.spec not in (SYNC_SNAPSHOT, SYNC_DELTA):
                raise ContractError(f"unknown sync topic {topic!r}")
            message = found.spec.parse(found, payload)
        except ContractError as err:
            self.stats.bad_sync += 1
            log.warning("ignored downlink message on %s: %s", topic, err)
            return
        self.submit(SyncReceived(message, found.spec is SYNC_SNAPSHOT))


def _correlation_of(payload: bytes) -> str:
    """Best-effort correlation id of a payload that failed validation."""
    try:
        value = json.loads(payload).get("correlation_id")
    except (ValueError, AttributeError):
        return "unknown"
    return value if isinstance(value, str) and 0 < len(value) <= 64 else "unknown"
