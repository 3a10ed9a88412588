"""MT-SICS scale driver: polls ``SI`` (or ``S``), zeroes with ``Z``, tares with ``T``/``TAC``."""

from __future__ import annotations

import logging
import time

from devices.driver import StatusCallback
from devices.errors import DeviceTimeoutError
from devices.mtsics.profiles import BALANCE_0_01G, MtSicsProfile
from devices.mtsics.protocol import (
    CLEAR_TARE,
    QUERY_TARE,
    RESET,
    TARE,
    ZERO,
    Command,
    MtSicsCodec,
    Role,
    SicsError,
    StatusReply,
    TextReply,
    WeightReply,
)
from devices.scales.base import (
    EventCallback,
    ScaleAction,
    SettlingScaleDriver,
    WeightCallback,
    to_grams,
)
from devices.scales.settle import Reading, SettleRule

log = logging.getLogger(__name__)

_ACTIONS: dict[ScaleAction, Command] = {"zero": ZERO, "tare": TARE, "clear_tare": CLEAR_TARE}


class MtSicsDriver(SettlingScaleDriver):
    """Drive an MT-SICS balance; settled weights reach ``on_weight`` in grams."""

    protocol_name = "mt-sics"

    def __init__(
        self,
        url: str,
        *,
        profile: MtSicsProfile = BALANCE_0_01G,
        name: str = "scale",
        rule: SettleRule | None = None,
        on_weight: WeightCallback | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the driver for the balance at ``url``."""
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
        self.codec = MtSicsCodec(Role.HOST)
        self.serial_number: str | None = None
        self._misses = 0
        self._tare_active = False

    def handshake(self) -> None:
        """Send ``@`` (cancel pending commands, no zeroing) and note the serial number."""
        self._misses = 0
        reply = self._exchange(
            self.codec,
            self.codec.send(RESET),
            lambda e: isinstance(e, TextReply) and e.command == "I4",
            self.profile.reply_timeout_s,
        )
        if isinstance(reply, TextReply):
            self.serial_number = reply.text
        tare = self._exchange(
            self.codec,
            self.codec.send(QUERY_TARE),
            lambda e: isinstance(e, (WeightReply, SicsError)) and getattr(e, "command", "TA") == "TA",
            self.profile.reply_timeout_s,
        )
        self._tare_active = isinstance(tare, WeightReply) and tare.number != 0

    def measure(self) -> list[Reading]:
        """Send the weigh command and turn its reply into a reading."""
        self.stats.polls += 1
        command = Command(self.profile.weigh_command)
        timeout = self.profile.command_timeout_s if command.name == "S" else self.profile.reply_timeout_s
        reply = self._exchange(self.codec, self.codec.send(command), self._is_weight_reply, timeout)
        if reply is None:
            self._misses += 1
            if self._misses >= self.profile.max_misses:
                self._misses = 0
                raise DeviceTimeoutError(f"{self.name}: no reply to {command.name}")
            return []
        self._misses = 0
        now = time.monotonic()
        if isinstance(reply, WeightReply):
            return [Reading(now, to_grams(reply.number, reply.unit), reply.stable, net=self._tare_active)]
        if isinstance(reply, StatusReply):
            if reply.status == "+":
                return [Reading(now, error="overload", detail="S +")]
            if reply.status == "-":
                return [Reading(now, error="underload", detail="S -")]
            return [Reading(now, stable=False, detail=f"S {reply.status}")]  # S I: busy
        assert isinstance(reply, SicsError)
        return [Reading(now, error="device", detail=f"{reply.code}: {reply.meaning}")]

    @staticmethod
    def _is_weight_reply(event: object) -> bool:
        if isinstance(event, (WeightReply, StatusReply)):
            return event.command == "S"
        return isinstance(event, SicsError)

    def execute(self, action: ScaleAction) -> bool:
        """Send ``Z``, ``T`` or ``TAC``; confirmed by ``Z A``, ``T S <tare>`` or ``TAC A``."""
        command = _ACTIONS[action]
        reply = self._exchange(
            self.codec,
            self.codec.send(command),
            lambda e: (
                isinstance(e, SicsError) or (isinstance(e, (WeightReply, StatusReply)) and e.command == command.name)
            ),
            self.profile.command_timeout_s,
        )
        ok = False
        if isinstance(reply, WeightReply):
            ok = reply.status == "S"
        elif isinstance(reply, StatusReply):
            if reply.status != "A":
                log.info("%s: %s answered %s %s", self.name, command.name, reply.command, reply.status)
            ok = reply.status == "A"
        if ok:
            self._tare_active = action == "tare"  # Z also clears the tare on MT balances
        return ok
