"""Turn what arrives from the broker into agent inputs (paho's network thread).

Every downlink message is verified here first (``contracts.signing``: pinned keys, store,
topic), off the decision thread and off the door's hot path; only then are commands and sync
messages parsed. A refused message is counted by reason and, at most once a minute per reason
(``RefusalLimiter``), queued as a ``DownlinkRefusal`` that raises a ``downlink_refused`` alarm;
a refused command is also answered with the reason. Anything that has to be published in
answer (a reply, clearing a retained command) is done by the door service on the decision
thread, so this side needs no broker handle.

A ``sync/downlink-keys`` announcement signed by a pinned key with a higher version replaces the
pinned set (``on_keys`` persists it); messages refused for an unknown key just before it (a
retained snapshot signed by the new key that the broker delivered first) are checked again.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence

from contracts.errors import ContractError
from contracts.messages import CommandReply
from contracts.signing import DownlinkKeys, DownlinkRefused, RefusalReason, unb64url
from contracts.topics import COMMAND, DOWNLINK_KEYS, SYNC_DELTA, SYNC_MANIFEST, SYNC_SNAPSHOT, Topics, route
from edge_agent.domain.checkout import ConnectivityChanged
from edge_agent.domain.ports import Clock, SystemClock
from edge_agent.domain.trust import PinnedKeys, RefusalLimiter
from edge_agent.services.checkout import StationInput
from edge_agent.services.door import CommandArrived, CommandRefused
from edge_agent.services.stats import AgentStats
from edge_agent.services.sync import DownlinkRefusal, SyncReceived

log = logging.getLogger(__name__)

DownlinkInput = CommandArrived | CommandRefused | SyncReceived | StationInput | DownlinkRefusal
HELD_UNKNOWN_KEY = 32  # messages kept for a second look after a key rotation


class Downlink:
    """The MQTT handlers of one agent: commands, downlink sync and connectivity."""

    def __init__(
        self,
        topics: Topics,
        submit: Callable[[DownlinkInput], None],
        *,
        station_ids: Sequence[str] = (),
        stats: AgentStats | None = None,
        keys: PinnedKeys | None = None,
        on_keys: Callable[[DownlinkKeys], None] | None = None,
        clock: Clock | None = None,
        alarm_every_s: float = 60.0,
    ) -> None:
        """Queue inputs with ``submit``; verify with ``keys``; ``on_keys`` saves a rotated key set."""
        self.topics = topics
        self.submit = submit
        self.station_ids = tuple(station_ids)
        self.stats = stats or AgentStats()
        self.keys = keys or PinnedKeys(topics.store_id, None)
        self.on_keys = on_keys or (lambda keys: None)
        self.clock = clock or SystemClock()
        self.limiter = RefusalLimiter(alarm_every_s)
        self._held: OrderedDict[str, tuple[bytes, bool, bool]] = OrderedDict()
        if self.keys.pinned is None:
            log.error("no downlink key is pinned (downlink_keys_file): every command and sync message is refused")

    def on_connection(self, up: bool) -> None:
        """Tell every station whether the cloud is reachable."""
        for station_id in self.station_ids:
            self.submit(StationInput(station_id, ConnectivityChanged(up)))

    # ------------------------------------------------------------------ refusals
    def _refused(self, topic: str, err: DownlinkRefused, data: bytes, retained: bool, command: bool) -> None:
        reason = err.reason.value
        self.stats.downlink_refused[reason] = self.stats.downlink_refused.get(reason, 0) + 1
        log.warning("refused downlink message on %s: %s", topic, err)
        if err.reason is RefusalReason.UNKNOWN_KEY:
            self._held[topic] = (data, retained, command)
            while len(self._held) > HELD_UNKNOWN_KEY:
                self._held.popitem(last=False)
        suppressed = self.limiter.allow(reason, self.clock.monotonic())
        if suppressed is not None:
            self.submit(DownlinkRefusal(err.reason, topic, err.detail, suppressed))

    def _open(self, topic: str, data: bytes, retained: bool, *, command: bool) -> bytes | None:
        try:
            return self.keys.open(topic, data)
        except DownlinkRefused as err:
            self._refused(topic, err, data, retained, command)
            if command:
                reply = CommandReply(
                    correlation_id=_correlation_of(_inner(data)),
                    name=topic.rsplit("/", 1)[-1][:64] or "unknown",
                    status="error",
                    error=f"downlink refused: {err}",
                )
                self.submit(CommandRefused(reply, clear=topic if retained else None))
            return None

    def verified(self, handler: Callable[[str, bytes, bool], None]) -> Callable[[str, bytes, bool], None]:
        """Return ``handler`` behind signature checks: it gets the inner payload of a verified envelope.

        For what the cloud sends besides commands and sync: delivery acknowledgements and payment
        replies. A refused message raises the ``downlink_refused`` alarm like any other.
        """

        def opened(topic: str, payload: bytes, retained: bool) -> None:
            if not payload:
                return
            inner = self._open(topic, payload, retained, command=False)
            if inner is not None:
                handler(topic, inner, retained)

        return opened

    # ------------------------------------------------------------------ commands
    def on_command(self, topic: str, payload: bytes, retained: bool) -> None:
        """Turn an MQTT command into an input, or into the error reply it deserves."""
        if not payload:
            return  # an empty payload clears a retained message; it is not a command
        self.stats.commands += 1
        try:
            found = route(topic)
            if found.spec is not COMMAND or found.store_id != self.topics.store_id:
                raise ContractError(f"topic {topic!r} is not a command for this store")
        except ContractError as err:
            self._bad_command(topic, payload, err)
            return
        inner = self._open(topic, payload, retained, command=True)
        if inner is None:
            return
        try:
            command = COMMAND.parse(found, inner)
        except ContractError as err:
            self._bad_command(topic, inner, err)
            return
        self.submit(CommandArrived(topic, command, retained=retained))

    def _bad_command(self, topic: str, payload: bytes, err: ContractError) -> None:
        self.stats.bad_commands += 1
        name = topic.rsplit("/", 1)[-1]
        reply = CommandReply(correlation_id=_correlation_of(payload), name=name, status="error", error=str(err))
        self.submit(CommandRefused(reply))

    # ---------------------------------------------------------------------- sync
    def on_sync(self, topic: str, payload: bytes, retained: bool) -> None:
        """Verify and parse a downlink message and queue it; bad payloads are counted and logged."""
        if not payload:
            return  # a cleared retained message
        try:
            found = route(topic)
            if found.spec not in (SYNC_SNAPSHOT, SYNC_DELTA, SYNC_MANIFEST, DOWNLINK_KEYS):
                raise ContractError(f"unknown sync topic {topic!r}")
        except ContractError as err:
            self.stats.bad_sync += 1
            log.warning("ignored downlink message on %s: %s", topic, err)
            return
        inner = self._open(topic, payload, retained, command=False)
        if inner is None:
            return
        try:
            message = found.spec.parse(found, inner)
        except ContractError as err:
            self.stats.bad_sync += 1
            log.warning("ignored downlink message on %s: %s", topic, err)
            return
        if found.spec is DOWNLINK_KEYS:
            self._rotate(topic, message)
        elif found.spec is not SYNC_MANIFEST:
            self.submit(SyncReceived(message, found.spec is SYNC_SNAPSHOT))

    def _rotate(self, topic: str, announced: DownlinkKeys) -> None:
        try:
            changed = self.keys.rotate(announced)
        except DownlinkRefused as err:
            self._refused(topic, err, b"", False, False)
            return
        if not changed:
            return
        log.warning("downlink keys rotated to version %d: %s", announced.version, ", ".join(sorted(announced.keys)))
        self.on_keys(announced)
        held, self._held = list(self._held.items()), OrderedDict()
        for held_topic, (data, retained, command) in held:
            (self.on_command if command else self.on_sync)(held_topic, data, retained)


def _inner(data: bytes) -> bytes:
    """Best-effort inner payload of an envelope that failed verification (the data itself if unsigned)."""
    try:
        raw = json.loads(data)
        if isinstance(raw, dict) and isinstance(raw.get("payload"), str):
            return unb64url(raw["payload"])
    except (ValueError, UnicodeDecodeError):
        pass
    return data


def _correlation_of(payload: bytes) -> str:
    """Best-effort correlation id of a payload that failed validation."""
    try:
        value = json.loads(payload).get("correlation_id")
    except (ValueError, AttributeError):
        return "unknown"
    return value if isinstance(value, str) and 0 < len(value) <= 64 else "unknown"
