"""The door service: carries out the door controller's actions (lock, reader feedback, events, replies).

It also keeps the devices' retained status: every driver reports to the door controller, which
raises ``device_offline`` for the lock, the door inputs and the readers alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from contracts.messages import AccessGranted, Command, CommandReply, DeviceStatus, ResolveReviewCommand, dump
from edge_agent.domain.actions import Emit, Feedback, Reply
from edge_agent.domain.commands import keep_until, refusal
from edge_agent.domain.door import (
    CodePresented,
    CommandReceived,
    DeviceStatusChanged,
    DoorAction,
    DoorController,
    DoorInput,
    SetLock,
)
from edge_agent.domain.ports import CommandJournal, LockOutput, Publisher
from edge_agent.domain.staff import CredentialPresented
from edge_agent.services.events import EventEmitter
from edge_agent.services.stats import AgentStats

log = logging.getLogger(__name__)

_ROLES: dict[str, Literal["lock", "inputs", "reader"]] = {"lock": "lock", "inputs": "inputs", "reader": "reader"}


@dataclass(frozen=True)
class DeviceReport:
    """A driver says its device went offline or came back (``kind``: what it is, ``role``: what it does)."""

    name: str
    kind: str
    role: str
    online: bool
    detail: str = ""


@dataclass(frozen=True)
class CommandArrived:
    """An operator command parsed from MQTT topic ``topic`` (``retained``: its retain flag)."""

    topic: str
    command: Command
    retained: bool = False


@dataclass(frozen=True)
class CommandRefused:
    """A command that failed validation: answer it with ``reply`` (and clear ``clear``, a retained one)."""

    reply: CommandReply
    clear: str | None = None


DoorServiceInput = DoorInput | DeviceReport | CommandArrived | CommandRefused


class DoorService:
    """Run a ``DoorController`` against its lock, the reader feedback, the emit path and the broker."""

    def __init__(
        self,
        controller: DoorController,
        lock: LockOutput,
        emitter: EventEmitter,
        *,
        publisher: Publisher | None = None,
        on_feedback: Callable[[Feedback], None] | None = None,
        stats: AgentStats | None = None,
        on_persist: Callable[[bool, str | None], None] | None = None,
        command_log: CommandJournal | None = None,
        on_review: Callable[[ResolveReviewCommand], str | None] | None = None,
    ) -> None:
        """Wire the controller to its lock, the events path, (optionally) the broker and the command log.

        ``on_persist(lockdown, mode_override)`` hears the operator's lockdown and mode override
        whenever they change, so they can be kept across restarts. ``on_review`` applies a
        ``resolve_review`` command at a checkout station and says why it could not (None: done).
        """
        self.controller = controller
        self.lock = lock
        self.emitter = emitter
        self.topics = emitter.topics
        self.publisher = publisher
        self.on_feedback = on_feedback or (lambda fb: log.info("reader: %s", fb.message))
        self.stats = stats or AgentStats()
        self.command_log = command_log
        self.on_review = on_review
        self._last_state: dict[str, object] | None = None
        self._devices: dict[str, DeviceStatus] = {}
        self._dirty_devices: set[str] = set()
        self.on_persist = on_persist
        self._persisted = self._persistent()

    def start(self) -> None:
        """Lock the door and report the starting mode."""
        self._execute(self.controller.start())

    def stop(self) -> None:
        """Lock the door on an orderly shutdown."""
        self._execute(self.controller.stop())

    def handle(self, item: DoorServiceInput) -> None:
        """Hand one input to the controller and carry out its actions (decision thread)."""
        if isinstance(item, CommandRefused):
            self._count_refusal(item.reply.status)
            if item.clear is not None and self.publisher is not None:
                self.publisher.clear_retained(item.clear)  # a retained forgery would come back at every reconnect
            if self.publisher is not None:
                self.publisher.publish_reply(self.topics.reply(item.reply.name), dump(item.reply))
            return
        if isinstance(item, CommandArrived):
            self._command(item)
            return
        if isinstance(item, DeviceReport):
            item = self._device_changed(item)
        started = time.perf_counter()
        self._execute(self.controller.handle(item))
        if isinstance(item, CodePresented | CredentialPresented):
            self.stats.decision_s.observe(time.perf_counter() - started)

    def _command(self, item: CommandArrived) -> None:
        """Run a command once per correlation id, across restarts (``command_log``)."""
        cmd = item.command
        if item.retained and self.publisher is not None:
            self.publisher.clear_retained(item.topic)  # a retained command would replay at every reconnect
        log_it = self.command_log is not None and not item.retained
        if log_it:
            assert self.command_log is not None
            config = self.controller.config
            until = keep_until(cmd, config.command_lifetime_s, config.command_skew_s).timestamp()
            if not self.command_log.claim(cmd.correlation_id, cmd.name, until):
                log.warning(
                    "command %s %s again: answered with its first reply, not run twice", cmd.name, cmd.correlation_id
                )
                self._count_refusal("duplicate")
                previous = self.command_log.reply_of(cmd.correlation_id)
                if previous is None:  # claimed, then the agent stopped before it answered
                    previous = dump(
                        CommandReply(
                            correlation_id=cmd.correlation_id,
                            name=cmd.name,
                            status="rejected",
                            error="duplicate correlation id: this command was already taken",
                        )
                    )
                if self.publisher is not None:
                    self.publisher.publish_reply(self.topics.reply(cmd.name), previous)
                return
        if isinstance(cmd, ResolveReviewCommand):
            actions: list[DoorAction] = [Reply(self._review(cmd, item.retained))]
        else:
            actions = self.controller.handle(CommandReceived(cmd, retained=item.retained))
        for action in actions:
            if isinstance(action, Reply) and action.reply.correlation_id == cmd.correlation_id:
                r = action.reply
                log.info(
                    "command %s %s from %s: %s%s",
                    cmd.name,
                    cmd.correlation_id,
                    cmd.issued_by,
                    r.status,
                    f" ({r.error})" if r.error else "",
                )
                if action.reply.status != "ok":
                    self._count_refusal(action.reply.status)
                if log_it:
                    assert self.command_log is not None
                    self.command_log.record_reply(cmd.correlation_id, dump(action.reply))
        self._execute(actions)

    def _review(self, cmd: ResolveReviewCommand, retained: bool) -> CommandReply:
        """Run a checkout command under the door's command rules (never retained, within its lifetime)."""
        config = self.controller.config
        now = datetime.fromtimestamp(self.controller.clock.time(), UTC)
        refused = refusal(
            cmd, retained=retained, now=now, lifetime_s=config.command_lifetime_s, skew_s=config.command_skew_s
        )
        if refused is None:
            why = "this store has no checkout stations" if self.on_review is None else self.on_review(cmd)
            refused = None if why is None else ("rejected", why)
        status, error = refused if refused is not None else ("ok", None)
        return CommandReply(correlation_id=cmd.correlation_id, name=cmd.name, status=status, error=error, ts=now)

    def _count_refusal(self, why: str) -> None:
        self.stats.commands_refused[why] = self.stats.commands_refused.get(why, 0) + 1

    @property
    def devices(self) -> dict[str, DeviceStatus]:
        """Return each device's last reported status, by name."""
        return dict(self._devices)

    def _device_changed(self, report: DeviceReport) -> DeviceStatusChanged:
        if report.online:
            log.info("device %s (%s) online", report.name, report.kind)
        else:
            log.warning("device %s (%s) offline: %s", report.name, report.kind, report.detail or "no detail")
        self._devices[report.name] = DeviceStatus(
            device=report.name, kind=report.kind, status="online" if report.online else "offline", detail=report.detail
        )
        self._dirty_devices.add(report.name)
        return DeviceStatusChanged(report.name, report.online, _ROLES.get(report.role, "other"), report.detail)

    def _execute(self, actions: list[DoorAction]) -> None:
        self._persist()  # before the reply says "ok": a crash right after still remembers it
        for action in actions:
            if isinstance(action, SetLock):
                self._set_lock(action)
            elif isinstance(action, Feedback):
                if action.granted:
                    self.stats.granted += 1
                elif action.reason is not None:
                    self.stats.denied[action.reason.value] = self.stats.denied.get(action.reason.value, 0) + 1
                self.on_feedback(action)
            elif isinstance(action, Emit):
                self.emitter.append(action.event)
                if isinstance(action.event, AccessGranted) and action.event.via == "staff":
                    self.stats.staff_entries += 1
            elif isinstance(action, Reply) and self.publisher is not None:
                self.publisher.publish_reply(self.topics.reply(action.reply.name), dump(action.reply))
        self.emitter.flush()
        if self.publisher is not None:
            self._publish_state()

    def _persist(self) -> None:
        persistent = self._persistent()
        if persistent == self._persisted or self.on_persist is None:
            return
        try:
            self.on_persist(*persistent)
            self._persisted = persistent
        except OSError as err:  # a full or read-only disk must not stop the door
            log.error("cannot save lockdown=%s mode_override=%s: %s", *persistent, err)

    def _persistent(self) -> tuple[bool, str | None]:
        """Return what must survive a restart: the lockdown flag and the operator's mode override."""
        override = self.controller.mode_override
        return self.controller.lockdown, (override.value if override is not None else None)

    def _set_lock(self, action: SetLock) -> None:
        """Drive the relay; a timed unlock goes to a board that times pulses itself (``pulse``)."""
        if action.energised and action.pulse_s is not None and getattr(self.lock, "times_pulses", False):
            self.lock.pulse(action.pulse_s)  # type: ignore[attr-defined]
        else:
            self.lock.set_energised(action.energised)

    def _publish_state(self) -> None:
        assert self.publisher is not None
        state = self.controller.snapshot().model_dump(mode="json", exclude={"ts"})
        if state != self._last_state:
            self._last_state = state
            self.publisher.publish_state("door", dump(self.controller.snapshot()))
        while self._dirty_devices:
            name = self._dirty_devices.pop()
            self.publisher.publish_state(f"device-{name}", dump(self._devices[name]))
