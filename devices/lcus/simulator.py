"""Simulated LCUS relay board (device role), with a stuck-relay fault."""

from __future__ import annotations

import threading
import time

from devices.lcus.protocol import Garbage, LcusCodec, QueryStatus, Role, SetRelay


class LcusSimulator:
    """An LCUS board with ``channels`` relays; records every switch it was told."""

    name = "lcus"

    def __init__(self, channels: int = 1, *, stuck: bool = False, stale_status: bool = False) -> None:
        """Create a board; with ``stuck`` the relays ignore every command.

        With ``stale_status`` a status query answers what the previous query saw (as some
        boards do), so drivers must read twice.
        """
        self.codec = LcusCodec(Role.DEVICE)
        self.channels = channels
        self.states = dict.fromkeys(range(1, channels + 1), False)
        self.stuck = stuck
        self.stale_status = stale_status
        self._reported = dict(self.states)
        self.history: list[SetRelay] = []
        self.history_times: list[float] = []  # perf_counter() when each switch frame arrived
        self.garbage = 0
        self.changed = threading.Condition()

    def receive_data(self, data: bytes) -> bytes:
        """Apply switch frames; answer status queries on multi-channel boards."""
        reply = b""
        for event in self.codec.receive_data(data):
            if isinstance(event, SetRelay) and event.channel in self.states:
                with self.changed:
                    self.history.append(event)
                    self.history_times.append(time.perf_counter())
                    if not self.stuck:
                        self.states[event.channel] = event.on
                    self.changed.notify_all()
            elif isinstance(event, QueryStatus) and self.channels > 1:
                reply += self.codec.send(self._reported if self.stale_status else dict(self.states))
                self._reported = dict(self.states)
            elif isinstance(event, Garbage):
                self.garbage += 1
        return reply

    def poll(self, now: float) -> bytes:
        """Send nothing unsolicited."""
        return b""
