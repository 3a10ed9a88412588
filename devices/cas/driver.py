"""CAS continuous-output driver: listens to the stream; zero/tare through command mode."""

from __future__ import annotations

import time

from devices.cas.profiles import CAS_22, CasProfile
from devices.cas.protocol import CasCodec, CasCommand, CasFrame, Garbage, Role
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

_COMMANDS: dict[ScaleAction, str] = {"zero": "ZE", "tare": "TR", "clear_tare": "TR"}


def frame_reading(frame: CasFrame, now: float) -> Reading:
    """Turn a CAS frame into a settle-rule reading."""
    if frame.overload:
        return Reading(now, error="overload", detail="OL")
    if frame.value is None:
        return Reading(now, stable=False, detail="no value")
    return Reading(now, to_grams(frame.value, frame.unit), stable=frame.stable, net=frame.net)


class CasDriver(SettlingScaleDriver):
    """Listen to a CAS indicator's stream; settled weights reach ``on_weight`` in grams.

    A stream that stays silent for ``silence_timeout_s`` counts as a lost device: the port is
    reopened and the driver reports ``disconnected`` until frames flow again.
    """

    protocol_name = "cas"

    def __init__(
        self,
        url: str,
        *,
        profile: CasProfile = CAS_22,
        name: str = "scale",
        rule: SettleRule | None = None,
        on_weight: WeightCallback | None = None,
        on_event: EventCallback | None = None,
        on_status: StatusCallback | None = None,
        max_backoff: float = 5.0,
    ) -> None:
        """Prepare the driver for the indicator at ``url``."""
        super().__init__(
            url,
            name=name,
            settings=profile.serial,
            rule=rule or profile.rule,
            poll_interval=0.0,
            on_weight=on_weight,
            on_event=on_event,
            on_status=on_status,
            max_backoff=max_backoff,
        )
        self.profile = profile
        self.codec = CasCodec(
            Role.HOST, unit_for_data10=profile.unit_for_data10, seven_bit=profile.serial.bytesize == 7
        )
        self.last_frame: CasFrame | None = None
        self._last_frame_at = 0.0

    def handshake(self) -> None:
        """Start the silence clock; the stream needs no greeting."""
        self.codec.reset()
        self._last_frame_at = time.monotonic()

    def _frames(self) -> list[CasFrame]:
        frames: list[CasFrame] = []
        for event in self.codec.receive_data(self._read()):
            if isinstance(event, CasFrame):
                frames.append(event)
            elif isinstance(event, Garbage):
                self.stats.garbage += 1
        if frames:
            self._last_frame_at = time.monotonic()
            self.last_frame = frames[-1]
        elif time.monotonic() - self._last_frame_at > self.profile.silence_timeout_s:
            self._last_frame_at = time.monotonic()
            raise DeviceTimeoutError(f"{self.name}: no CAS frame for {self.profile.silence_timeout_s} s")
        return frames

    def measure(self) -> list[Reading]:
        """Read what the stream delivered since the last call."""
        frames = self._frames()
        self.stats.polls += len(frames)
        now = time.monotonic()
        return [frame_reading(frame, now) for frame in frames]

    def execute(self, action: ScaleAction) -> bool:
        """Send ``ZE`` or ``TR`` and watch the stream for the result.

        CAS has no clear-tare command: ``TR`` on an empty platter clears the tare, so
        ``clear_tare`` only succeeds once the platter is empty.
        """
        before = self.last_frame
        if action == "clear_tare" and before is not None and not before.net:
            return True  # nothing to clear
        self._write(self.codec.send(CasCommand(_COMMANDS[action])))
        deadline = time.monotonic() + self.profile.command_timeout_s
        while time.monotonic() < deadline:
            for frame in self._frames():
                if not frame.stable:
                    continue
                if action == "zero" and not frame.net and frame.value == 0:
                    return True
                if (
                    action == "tare"
                    and frame.net
                    and abs(to_grams(frame.value or 0.0, frame.unit)) <= self.settler.rule.tolerance_g
                ):
                    return True
                if action == "clear_tare" and not frame.net:
                    return True
        return False
