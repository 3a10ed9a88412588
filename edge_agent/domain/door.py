"""The door controller: a pure state machine for one store door (h11-style transition table).

Inputs come in through ``handle`` with the clock injected; actions come out (set the lock relay,
emit an event, reply to a command, show reader feedback). Nothing here does I/O.

Rules it enforces (see docs/door.md):

- Start-up writes "locked" first and never unlocks; a retained or expired command never
  unlocks; a code opens the door once.
- Night mode: a valid code releases the lock for ``unlock_s``; the lock re-engages when the door
  has opened and closed again, or when the time is up.
- Day mode (staffed): first-person-in. The door stays locked until the first valid code, then
  it is held unlocked until night. An operator's ``set_mode day`` holds it unlocked at once.
- The exit button always releases the lock (free egress), in lockdown too.
- Door held open longer than ``held_open_s`` → ``door_held_open``; door opened while locked with
  no exit request in the last ``rex_mask_s`` → ``door_forced``.
- Occupancy counts door openings after a grant (+1) and after an exit request (-1) at night;
  a grant is refused at the cap. With a passage sensor (``passage_sensor``) it counts passages
  instead, and an entry no grant covers is an unidentified person: ``tailgating`` (passages.py).
- Fail mode: when the door inputs (contact, exit button) were supervised and then go offline,
  ``safe`` holds the door unlocked until they return (people inside must get out),
  ``secure`` keeps it locked and relies on the hard-wired exit. Both raise a critical alarm.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from contracts.messages import (
    AccessDenied,
    AccessGranted,
    AlarmKind,
    Command,
    CommandReply,
    DenyReason,
    DoorClosed,
    DoorOpened,
    DoorState,
    Event,
    ExitRequested,
    LockdownCommand,
    Mode,
    ModeChanged,
    ResetOccupancyCommand,
    SetModeCommand,
    UnlockCommand,
)
from edge_agent.domain.access import AccessDecision, AccessVerifier, TimeRange
from edge_agent.domain.actions import FEEDBACK, AlarmBook, Emit, Feedback, Reply, emit
from edge_agent.domain.clock_watch import clock_skew
from edge_agent.domain.commands import refusal
from edge_agent.domain.lock_table import ENERGISED, OPENING_CAUSES, OpeningRequest
from edge_agent.domain.lock_table import LOCK_TRANSITIONS as LOCK_TRANSITIONS
from edge_agent.domain.lock_table import LockState as LockState
from edge_agent.domain.lock_table import LockTrigger as LockTrigger
from edge_agent.domain.lock_table import next_lock_state as next_lock_state
from edge_agent.domain.passages import PassageLedger, PassageSensed, PassageSensor, tailgating_detail
from edge_agent.domain.ports import Clock
from edge_agent.domain.staff import CredentialPresented, StaffDirectory, admit_staff

# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class CodePresented:
    """A member code was read (camera or serial reader)."""

    text: str
    reader: str = "door"


@dataclass(frozen=True)
class ExitPressed:
    """The request-to-exit button was pressed."""


@dataclass(frozen=True)
class DoorSensor:
    """The door contact changed."""

    is_open: bool


@dataclass(frozen=True)
class DoorTick:
    """Time passed (timers, schedule)."""


@dataclass(frozen=True)
class CommandReceived:
    """An operator command arrived; ``retained`` is the MQTT retain flag it came with."""

    command: Command
    retained: bool = False


@dataclass(frozen=True)
class DeviceStatusChanged:
    """A device went offline or came back; ``role`` tells the controller what it means."""

    name: str
    online: bool
    role: Literal["lock", "inputs", "reader", "other"] = "other"
    detail: str = ""


DoorInput = (
    CodePresented
    | CredentialPresented
    | ExitPressed
    | DoorSensor
    | DoorTick
    | CommandReceived
    | DeviceStatusChanged
    | PassageSensed
)


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class SetLock:
    """Energise (unlock) or de-energise (lock) the lock relay.

    ``pulse_s``: an unlock that ends by itself after that long (a relay board that can time a
    pulse is asked to, so the door relocks even if the agent dies); the controller still sends
    ``SetLock(False)`` when it relocks.
    """

    energised: bool
    pulse_s: float | None = None


DoorAction = SetLock | Emit | Reply | Feedback


@dataclass(frozen=True)
class DoorConfig:
    """Per-door settings."""

    store_id: str
    door_id: str = "main"
    unlock_s: float = 5.0
    held_open_s: float = 15.0
    rex_mask_s: float = 10.0
    fail_mode: Literal["secure", "safe"] = "secure"
    day_hours: TimeRange | None = None  # None: always night mode unless an operator says
    timezone: str = "UTC"
    # Timed anti-passback: at night, a member who walked in is refused for this long while anyone
    # is inside, so a phone handed back out cannot let a second person in. 0 turns it off.
    passback_s: float = 120.0
    command_lifetime_s: float = 120.0  # a command is good this long from issued_at at most
    command_skew_s: float = 30.0  # how far in the future issued_at may be
    passage_sensor: PassageSensor = "none"  # "counter"/"pair": occupancy and tailgating from passages (passages.py)


@dataclass
class _Door:
    position: Literal["open", "closed", "unknown"] = "unknown"
    opened_at: float = 0.0
    last_grant_at: float = -1e9
    last_grant_member: str | None = None
    last_grant_staff: bool = False  # the last grant let staff in: that opening is no shopper
    last_exit_at: float = -1e9


class DoorController:
    """One door's state machine."""

    def __init__(
        self, config: DoorConfig, verifier: AccessVerifier, clock: Clock, staff: StaffDirectory | None = None
    ) -> None:
        """Create the controller; call ``start`` before anything else."""
        self.config = config
        self.verifier = verifier
        self.staff = staff or StaffDirectory(config.store_id, verifier.policy)
        self.clock = clock
        self.lock = LockState.LOCKED
        self.release_until = 0.0
        self.holds: set[str] = set()
        self.mode = Mode.NIGHT
        self.mode_override: Mode | None = None
        self.lockdown = False
        self.occupancy = 0
        self.walked_in: dict[str, float] = {}  # member id -> when they walked in (night), for anti-passback
        self.off_window: dict[str, tuple[float, int]] = {}  # member id -> (when, windows off) of a late/early code
        self.door = _Door()
        self.passages = PassageLedger(config.passage_sensor)
        self.alarms = AlarmBook()
        self.supervised: set[str] = set()
        self._recent_commands: OrderedDict[str, CommandReply] = OrderedDict()
        self._started = False

    # ------------------------------------------------------------------ helpers
    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)

    def _emit(self, cls: type[Event], **kw: object) -> Emit:
        return emit(cls, self.config.store_id, self._now(), **kw)

    def _inside_for(self, member_id: str | None, mono: float) -> float | None:
        """Return how long ago ``member_id`` walked in, if anti-passback refuses them now."""
        walked_in_at = self.walked_in.get(member_id) if member_id is not None else None
        if walked_in_at is None or mono - walked_in_at >= self.config.passback_s:
            return None
        if self.mode is not Mode.NIGHT or self.occupancy == 0:
            return None  # by day, or with nobody inside, nobody can hand a phone back out
        return mono - walked_in_at

    def _watch_clock(self, decision: AccessDecision, mono: float, out: list[DoorAction]) -> None:
        """Raise ``clock_skew`` when well-signed codes of several members agree the store's clock is off."""
        if decision.window_offset is None or decision.member_id is None:
            return
        detail = clock_skew(self.off_window, decision.member_id, decision.window_offset, mono)
        if detail is not None:
            self._raise(AlarmKind.CLOCK_SKEW, "clock", out, severity="critical", detail=detail)

    def _fire(self, trigger: LockTrigger, out: list[DoorAction]) -> None:
        """Apply ``trigger`` through the table; emit SetLock only when the relay must change."""
        new = next_lock_state(self.lock, trigger)
        if new is self.lock:
            return
        before = ENERGISED[self.lock]
        self.lock = new
        if ENERGISED[new] != before:
            out.append(SetLock(ENERGISED[new]))

    def _release(self, seconds: float, trigger: LockTrigger, out: list[DoorAction]) -> None:
        mono = self.clock.monotonic()
        was_released = self.lock is LockState.RELEASED
        self.release_until = max(self.release_until, mono + seconds) if was_released else mono + seconds
        start = len(out)
        self._fire(trigger, out)
        pulse = SetLock(True, pulse_s=self.release_until - mono)
        if out[start:] == [SetLock(True)]:
            out[start] = pulse  # a timed unlock: the relay may end it by itself
        elif was_released and self.lock is LockState.RELEASED:
            out.append(pulse)  # a longer window: time the running pulse again

    def _hold(self, reason: str, out: list[DoorAction]) -> None:
        self.holds.add(reason)
        self._fire(LockTrigger.HOLD, out)

    def _unhold(self, reason: str, out: list[DoorAction]) -> None:
        self.holds.discard(reason)
        if not self.holds:
            self._fire(LockTrigger.UNHOLD, out)

    def _raise(
        self, kind: AlarmKind, source: str, out: list[DoorAction], *, severity: str = "warning", detail: str = ""
    ) -> None:
        raised = self.alarms.raise_alarm(
            kind, source, self.config.store_id, self._now(), severity=severity, detail=detail
        )
        if raised is not None:
            out.append(raised)

    def _clear(self, kind: AlarmKind, source: str, out: list[DoorAction]) -> None:
        cleared = self.alarms.clear_alarm(kind, source, self.config.store_id, self._now())
        if cleared is not None:
            out.append(cleared)

    def scheduled_mode(self) -> Mode:
        """Return the mode the schedule asks for now."""
        hours = self.config.day_hours
        if hours is None:
            return Mode.NIGHT
        return Mode.DAY if hours.contains(self.verifier.policy.local_time(self.clock.time())) else Mode.NIGHT

    # ------------------------------------------------------------------ public
    def start(self) -> list[DoorAction]:
        """Lock the door (always, whatever the mode) and report the starting mode."""
        self._started = True
        self.mode = self.mode_override or self.scheduled_mode()
        return [SetLock(False), self._emit(ModeChanged, mode=self.mode, lockdown=self.lockdown, by="startup")]

    def stop(self) -> list[DoorAction]:
        """Lock the door on an orderly shutdown (the relay is written even if it is already off)."""
        self.holds.clear()
        self.lock = next_lock_state(self.lock, LockTrigger.SHUTDOWN)
        return [SetLock(ENERGISED[self.lock])]

    def snapshot(self) -> DoorState:
        """Return the retained door state."""
        return DoorState(
            door_id=self.config.door_id,
            mode=self.mode,
            lockdown=self.lockdown,
            lock="locked" if self.lock is LockState.LOCKED else "unlocked",
            door=self.door.position,
            occupancy=self.occupancy,
            unidentified=self.passages.unidentified,
            occupancy_cap=self.verifier.policy.occupancy_cap,
            alarms=sorted(f"{k.value}:{s}" for k, s in self.alarms.active),
            ts=datetime.fromtimestamp(self.clock.time(), UTC),
        )

    def handle(self, event: DoorInput) -> list[DoorAction]:
        """Process one input and return the actions to carry out, in order."""
        if not self._started:
            raise RuntimeError("DoorController.start() must run first")
        out: list[DoorAction] = []
        if isinstance(event, CodePresented):
            self._on_code(event, out)
        elif isinstance(event, CredentialPresented):
            admit_staff(self, event, out)  # edge_agent/domain/staff.py
        elif isinstance(event, ExitPressed):
            self._on_exit(out)
        elif isinstance(event, DoorSensor):
            self._on_sensor(event.is_open, out)
        elif isinstance(event, DoorTick):
            self._on_tick(out)
        elif isinstance(event, PassageSensed):
            self._on_passage(event, out)
        elif isinstance(event, CommandReceived):
            self._on_command(event, out)
        else:
            self._on_device(event, out)
        return out

    # ------------------------------------------------------------------ inputs
    def _on_code(self, event: CodePresented, out: list[DoorAction]) -> None:
        now, mono = self.clock.time(), self.clock.monotonic()
        decision = self.verifier.check(event.text, now=now, mono=mono, mode=self.mode, occupancy=self.occupancy)
        if decision.granted and self.lockdown:
            decision = type(decision)(
                False, DenyReason.LOCKDOWN, decision.member_id, decision.tier, "store is in lockdown"
            )
        elif decision.granted and (inside_s := self._inside_for(decision.member_id, mono)) is not None:
            detail = f"walked in {inside_s:.0f} s ago; {self.occupancy} inside"
            decision = type(decision)(False, DenyReason.PASSBACK, decision.member_id, decision.tier, detail)
        door = self.config.door_id
        if not decision.granted:
            assert decision.reason is not None
            out.append(Feedback(False, FEEDBACK[decision.reason], decision.reason))
            out.append(
                self._emit(
                    AccessDenied,
                    door_id=door,
                    reason=decision.reason,
                    member_id=decision.member_id,
                    detail=decision.detail,
                )
            )
            self._watch_clock(decision, mono, out)
            return
        self.off_window.clear()
        self._clear(AlarmKind.CLOCK_SKEW, "clock", out)  # a code in its window: the clock agrees
        self.verifier.commit(decision, mono)
        self.door.last_grant_at = mono
        self.door.last_grant_member = decision.member_id
        self.door.last_grant_staff = False
        if self.mode is Mode.DAY:
            self._hold("day", out)  # first person in opens the store for the day
        else:
            self.passages.granted(mono, self.config.unlock_s)
            self._release(self.config.unlock_s, LockTrigger.GRANT, out)
        out.append(Feedback(True, FEEDBACK[None]))
        out.append(
            self._emit(
                AccessGranted,
                door_id=door,
                member_id=decision.member_id,
                tier=decision.tier,
                via="member_code" if self.mode is Mode.NIGHT else "day_mode",
            )
        )

    def _on_exit(self, out: list[DoorAction]) -> None:
        self.door.last_exit_at = self.clock.monotonic()
        out.append(self._emit(ExitRequested, door_id=self.config.door_id))
        self._release(self.config.unlock_s, LockTrigger.EXIT, out)

    def _on_sensor(self, is_open: bool, out: list[DoorAction]) -> None:
        mono = self.clock.monotonic()
        position: Literal["open", "closed"] = "open" if is_open else "closed"
        if self.door.position == position:
            return
        previous, self.door.position = self.door.position, position
        door = self.config.door_id
        if not is_open:
            out.append(self._emit(DoorClosed, door_id=door))
            self._clear(AlarmKind.DOOR_HELD_OPEN, door, out)
            self._clear(AlarmKind.DOOR_FORCED, door, out)
            if previous == "open":
                self.passages.closed(mono)
                self._fire(LockTrigger.RELOCK, out)  # the door cycled: lock behind the shopper
            return
        self.door.opened_at = mono
        if previous == "unknown":
            return  # first reading after start or a sensor outage: not an opening we saw
        recent_exit = mono - self.door.last_exit_at <= self.config.rex_mask_s
        recent_grant = mono - self.door.last_grant_at <= max(self.config.unlock_s, 1.0) + 1.0
        request: OpeningRequest = "none"
        if recent_exit and (not recent_grant or self.door.last_exit_at >= self.door.last_grant_at):
            request = "exit"
        elif recent_grant:
            request = "grant"
        cause = OPENING_CAUSES[(self.lock, request)]
        self.passages.opened(mono, cause)
        by_contact = self.config.passage_sensor == "none"  # without a passage sensor, openings are counted
        if cause == "grant" and self.door.last_grant_staff:
            self.door.last_grant_at = -1e9  # staff walked in (staff.py): not a shopper, occupancy unchanged
        elif self.mode is Mode.NIGHT and cause == "grant":
            self.door.last_grant_at = -1e9  # one entry per grant
            if by_contact:
                self._count(1, mono, identified=True)
        elif self.mode is Mode.NIGHT and cause == "exit":
            self.door.last_exit_at = -1e9
            if by_contact:
                self._count(-1, mono)
        out.append(self._emit(DoorOpened, door_id=door, cause=cause))
        if cause == "forced":
            self._raise(AlarmKind.DOOR_FORCED, door, out, severity="critical", detail="door opened while locked")

    def _count(self, delta: int, mono: float, *, identified: bool = False) -> None:
        """Change the occupancy; an identified entry starts the member's anti-passback time."""
        self.occupancy = max(0, self.occupancy + delta)
        self.passages.bound(self.occupancy)
        if identified and self.door.last_grant_member is not None and self.config.passback_s > 0:
            limit = self.config.passback_s  # forget walk-ins too old to matter, then note this one
            self.walked_in = {m: t for m, t in self.walked_in.items() if mono - t < limit}
            self.walked_in[self.door.last_grant_member] = mono

    def _on_passage(self, event: PassageSensed, out: list[DoorAction]) -> None:
        """Count a passage at night; an entry no grant covers raises ``tailgating`` (docs/door.md)."""
        if self.mode is not Mode.NIGHT or self.config.passage_sensor == "none":
            return
        mono, door = self.clock.monotonic(), self.config.door_id
        outcome = self.passages.passage(event.direction, mono)
        self._count(outcome.occupancy_delta, mono, identified=outcome.identified)
        if outcome.tailgating is not None:
            detail = tailgating_detail(*outcome.tailgating, self.passages.unidentified)
            self.alarms.active.pop((AlarmKind.TAILGATING, door), None)  # a new tailgater is raised again
            self._raise(AlarmKind.TAILGATING, door, out, severity="critical", detail=detail)
        elif self.passages.unidentified == 0:
            self._clear(AlarmKind.TAILGATING, door, out)

    def _on_tick(self, out: list[DoorAction]) -> None:
        mono = self.clock.monotonic()
        if self.lock is LockState.RELEASED and mono >= self.release_until:
            self._fire(LockTrigger.RELOCK, out)
        if (
            self.door.position == "open"
            and self.lock is not LockState.HELD
            and mono - self.door.opened_at >= self.config.held_open_s
        ):
            self._raise(
                AlarmKind.DOOR_HELD_OPEN, self.config.door_id, out, detail=f"open > {self.config.held_open_s:g} s"
            )
        wanted = self.mode_override or self.scheduled_mode()
        if wanted is not self.mode:
            self._set_mode(wanted, "schedule", out)

    def _set_mode(self, mode: Mode, by: Literal["schedule", "operator"], out: list[DoorAction]) -> None:
        changed = mode is not self.mode
        self.mode = mode
        if mode is Mode.NIGHT:
            self._unhold("day", out)
        elif by == "operator" and not self.lockdown:
            self._hold("day", out)
        if changed or by == "operator":
            out.append(self._emit(ModeChanged, mode=mode, lockdown=self.lockdown, by=by))

    def _on_device(self, event: DeviceStatusChanged, out: list[DoorAction]) -> None:
        source = event.name
        if event.online:
            self._clear(AlarmKind.DEVICE_OFFLINE, source, out)
            if event.role in ("inputs", "lock"):
                self.supervised.add(event.role)
            if event.role == "inputs":
                self._unhold("failsafe", out)
            return
        critical = event.role in ("lock", "inputs")
        self._raise(
            AlarmKind.DEVICE_OFFLINE, source, out, severity="critical" if critical else "warning", detail=event.detail
        )
        if event.role == "inputs":
            self.door.position = "unknown"
            if self.config.fail_mode == "safe" and "inputs" in self.supervised:
                self._hold("failsafe", out)

    # ------------------------------------------------------------------ commands
    def _on_command(self, event: CommandReceived, out: list[DoorAction]) -> None:
        cmd = event.command
        previous = self._recent_commands.get(cmd.correlation_id)
        if previous is not None:  # QoS 1 redelivery: answer again, act once
            out.append(Reply(previous))
            return
        reply = self._run_command(event, out)
        self._recent_commands[cmd.correlation_id] = reply
        while len(self._recent_commands) > 1000:
            self._recent_commands.popitem(last=False)
        out.append(Reply(reply))

    def _run_command(self, event: CommandReceived, out: list[DoorAction]) -> CommandReply:
        cmd = event.command
        now = datetime.fromtimestamp(self.clock.time(), UTC)

        def reply(status: Literal["ok", "error", "rejected", "expired"], error: str | None = None) -> CommandReply:
            return CommandReply(
                correlation_id=cmd.correlation_id,
                name=cmd.name,
                status=status,
                error=error,
                data=self.snapshot().model_dump(mode="json"),
                ts=now,
            )

        refused = refusal(
            cmd,
            retained=event.retained,
            now=now,
            lifetime_s=self.config.command_lifetime_s,
            skew_s=self.config.command_skew_s,
        )
        if refused is not None:
            return reply(*refused)
        if isinstance(cmd, UnlockCommand):
            if self.lockdown:
                return reply("rejected", "store is in lockdown")
            self.door.last_grant_at = self.clock.monotonic()
            self.door.last_grant_member = None
            self.door.last_grant_staff = False
            self.passages.granted(self.clock.monotonic(), cmd.duration_s)
            self._release(cmd.duration_s, LockTrigger.GRANT, out)
            out.append(self._emit(AccessGranted, door_id=cmd.door_id, via="remote"))
            return reply("ok")
        if isinstance(cmd, SetModeCommand):
            self.mode_override = None if cmd.mode == "auto" else Mode(cmd.mode)
            self._set_mode(self.mode_override or self.scheduled_mode(), "operator", out)
            return reply("ok")
        if isinstance(cmd, LockdownCommand):
            self.lockdown = cmd.active
            if cmd.active:
                self.holds.discard("day")
                if not self.holds:
                    self._fire(LockTrigger.LOCKDOWN, out)
            out.append(self._emit(ModeChanged, mode=self.mode, lockdown=self.lockdown, by="operator"))
            return reply("ok")
        if isinstance(cmd, ResetOccupancyCommand):
            self.occupancy = cmd.count
            self.passages.bound(cmd.count)
            if self.passages.unidentified == 0:
                self._clear(AlarmKind.TAILGATING, self.config.door_id, out)
            return reply("ok")
        return reply("error", f"unsupported command {cmd.name}")  # pragma: no cover - union is exhaustive
