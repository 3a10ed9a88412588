"""Toledo 8217 scale driver: polls ``W``, frames replies on ``CR`` (never on a 1 s timeout)."""

from __future__ import annotations

import logging
import time

from devices.driver import StatusCallback
from devices.errors import DeviceTimeoutError
from devices.scales.base import (
    EventCallback,
    ScaleAction,
    SettlingScaleDriver,
    WeightCallback,
    to_grams,
)
from devices.scales.settle import Reading, SettleRule
from devices.toledo8217.profiles import TOLEDO_8217, Toledo8217Profile
from devices.toledo8217.protocol import (
    ECHO_OFF,
    PROBE_REQUEST,
    Echo,
    EchoMode,
    Role,
    StatusFrame,
    Toledo8217Codec,
    WeightFrame,
)

log = logging.getLogger(__name__)


class Toledo8217Driver(SettlingScaleDriver):
    """Drive a Toledo 8217-protocol scale; settled weights reach ``on_weight`` in grams."""

    protocol_name = "toledo-8217"

    def __init__(
        self,
        url: str,
        *,
        profile: Toledo8217Profile = TOLEDO_8217,
        name: str = "scale",
        rule: SettleRule | None = None,
        on_weight: WeightCallback | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the driver for the scale at ``url``."""
        super().__init__(
            url,
            name=name,
            settings=profile.serial,
            rule=rule or profile.rule,
            poll_interval=profile.poll_interval_s,
            on_weight=on_weight,
            on_event=on_event,
            on_status=on_status,
            max_backoff=max_backoff,
        )
        self.profile = profile
        self.codec = Toledo8217Codec(Role.HOST, unit=profile.unit)
        self.echo_ok: bool | None = None
        self._misses = 0

    def handshake(self) -> None:
        """Check the scale with the ``Ehello`` echo probe (as Odoo does), then leave echo mode."""
        self._misses = 0
        self.link.reset_input()
        self.codec.reset()
        self._write(PROBE_REQUEST)
        echoed = b""
        entered = False
        deadline = time.monotonic() + self.profile.reply_timeout_s
        while time.monotonic() < deadline and not (entered and echoed.endswith(b"hello")):
            for event in self.codec.receive_data(self._read()):
                if isinstance(event, EchoMode) and event.on:
                    entered = True
                elif isinstance(event, Echo) and entered:
                    echoed += event.data
        self.echo_ok = entered and echoed.endswith(b"hello")
        self._exchange(
            self.codec,
            self.codec.send(ECHO_OFF),
            lambda e: isinstance(e, EchoMode) and not e.on,
            self.profile.reply_timeout_s,
        )
        if not self.echo_ok:
            log.warning("%s: no echo to Ehello; is this a Toledo 8217-protocol scale?", self.name)

    def measure(self) -> list[Reading]:
        """Send ``W`` and turn the weight or status frame into a reading."""
        self.stats.polls += 1
        reply = self._exchange(
            self.codec,
            self.profile.measure_command,
            lambda e: isinstance(e, (WeightFrame, StatusFrame)),
            self.profile.reply_timeout_s,
        )
        if reply is None:
            self._misses += 1
            if self._misses >= self.profile.max_misses:
                self._misses = 0
                raise DeviceTimeoutError(f"{self.name}: no reply to W")
            return []
        self._misses = 0
        now = time.monotonic()
        if isinstance(reply, WeightFrame):
            return [Reading(now, to_grams(reply.value, reply.unit), stable=True, net=reply.net)]
        assert isinstance(reply, StatusFrame)
        if reply.over_capacity:
            return [Reading(now, error="overload", detail=f"?{chr(reply.status | 0x40)}")]
        if reply.under_zero:
            return [Reading(now, error="negative", detail=f"?{chr(reply.status | 0x40)}")]
        return [Reading(now, stable=False, net=reply.net, detail=reply.first_problem() or "no weight")]

    def execute(self, action: ScaleAction) -> bool:
        """Send ``Z``, ``T`` or ``C`` and judge the status frame that follows."""
        command = {
            "zero": self.profile.zero_command,
            "tare": self.profile.tare_command,
            "clear_tare": self.profile.clear_command,
        }[action]
        reply = self._exchange(
            self.codec, command, lambda e: isinstance(e, StatusFrame), self.profile.command_timeout_s
        )
        if not isinstance(reply, StatusFrame):
            return False
        if reply.motion or reply.over_capacity:
            return False
        if action == "zero":
            return not reply.outside_zero_range and not reply.net
        if action == "tare":
            return reply.net
        return not reply.net
