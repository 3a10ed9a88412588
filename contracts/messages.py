"""Payload models of every MQTT message (schema version 1), one typed place for the contract.

Events, commands and replies are pydantic models discriminated by ``type`` (events) or ``name``
(commands). Unknown fields are refused so a typo on either side fails loudly. The cloud
deduplicates on ``event_id`` because QoS 1 may deliver a message twice.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from contracts.errors import ContractError

SCHEMA_VERSION: Final = 1

# Bounds: what both databases store alike (a signed 64-bit integer, a text without NUL, a
# timestamp that converts to UTC), so a payload the contract accepts is written the same way on
# SQLite and PostgreSQL and a payload it refuses says which field and why.
MAX_SEQ: Final = 2**62
"""Largest sequence or version number (a signed 64-bit column, with room to add to it)."""
MAX_COUNT: Final = 1_000_000
"""Largest count of things (items, people) an event may report."""
TS_YEARS: Final = (2000, 2100)
"""Timestamps must fall in these years (inclusive) once converted to UTC."""
MAX_UTC_OFFSET: Final = timedelta(hours=14)
"""Largest UTC offset of a timestamp (real zones span -12:00..+14:00)."""


def bounded_ts(value: datetime) -> datetime:
    """Return ``value`` if its offset is within ±14:00 and it falls in 2000..2100 UTC (naive = UTC).

    Raises:
        ValueError: the offset or the year is out of bounds (a contract refusal, not a crash).
    """
    offset = value.utcoffset()
    year = value.year
    if offset:
        if abs(offset) > MAX_UTC_OFFSET:
            raise ValueError(f"UTC offset {_offset_text(offset)} is outside -14:00..+14:00")
        if _LOW_YEAR <= year <= _HIGH_YEAR:
            year = (value.replace(tzinfo=None) - offset).year  # safe: a bounded year, one day at most
    if not _LOW_YEAR <= year <= _HIGH_YEAR:
        raise ValueError(f"timestamp {value.isoformat()} is outside the years {_LOW_YEAR}..{_HIGH_YEAR} UTC")
    return value


_LOW_YEAR, _HIGH_YEAR = TS_YEARS


def _offset_text(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL (U+0000)")
    return value


def _nul_to_replacement(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


Timestamp = Annotated[datetime, AfterValidator(bounded_ts)]
"""An event or request time: ±14:00 offset at most, years 2000..2100 in UTC."""
_DATE_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")


def iso_date_time(value: object) -> object:
    """Refuse what is not ISO 8601 date-time text (pydantic alone reads ``0`` or ``"0"`` as Unix time)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise PydanticCustomError("datetime_type", "Input should be an ISO 8601 date-time such as 2026-01-31T22:00:00Z")
    return value


def json_integer(value: object) -> object:
    """Refuse what a JSON schema ``integer`` excludes (``true``, ``"5"``), keep ``5`` and ``5.0``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


JsonInteger = BeforeValidator(json_integer)
"""Put last in ``Annotated[int, Field(...), JsonInteger]``: accept what JSON Schema calls an integer, nothing more."""


StrictTimestamp = Annotated[datetime, BeforeValidator(iso_date_time), AfterValidator(bounded_ts)]
"""A :data:`Timestamp` that must arrive as date-time text (what an HTTP API's schema promises)."""
ShortText = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)]
Id = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_nul)]
"""An identifier the cloud keeps in a 64-character column (member, product, authorisation)."""
FreeText = Annotated[str, BeforeValidator(_nul_to_replacement)]
"""Free text (details, names): any length; a NUL, which PostgreSQL text cannot hold, becomes U+FFFD."""
Cents = Annotated[int, Field(ge=0, le=100_000_000)]
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ)]


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DenyReason(StrEnum):
    """Why a member code (or a request to enter) was refused."""

    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    REVOKED = "revoked"
    WRONG_STORE = "wrong_store"
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    OUTSIDE_HOURS = "outside_hours"
    OCCUPANCY_FULL = "occupancy_full"
    LOCKDOWN = "lockdown"
    PASSBACK = "passback"  # this member walked in recently and has not left (timed anti-passback)
    UNKNOWN_CREDENTIAL = "unknown_credential"  # a card or PIN no (unrevoked) staff member of this store has


class Mode(StrEnum):
    """Store operating mode."""

    DAY = "day"
    NIGHT = "night"


class AlarmKind(StrEnum):
    """Alarms an agent raises and clears."""

    DOOR_HELD_OPEN = "door_held_open"
    DOOR_FORCED = "door_forced"
    DEVICE_OFFLINE = "device_offline"
    DEVICE_ERROR = "device_error"
    OUTBOX_OVERFLOW = "outbox_overflow"
    STAFF_REVIEW = "staff_review"
    CAMERA_DOWN = "camera_down"
    CLOCK_SKEW = "clock_skew"  # codes from several phones agree the store's clock is off
    OUTBOX_DAMAGED = "outbox_damaged"  # unreadable at start-up: moved aside, a fresh one started
    DOWNLINK_REFUSED = "downlink_refused"  # a cloud message was unsigned, forged, misaddressed or rolled back
    SCALE_NOT_EMPTY = "scale_not_empty"  # a checkout platter did not return to zero after a basket (forgotten bag)
    TAILGATING = "tailgating"  # more people went in than grants allowed (detail: "2 in on 1 grant: ...")


# ----------------------------------------------------------------------------- events


class EventBase(_Model):
    """Fields every event carries."""

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    ts: Timestamp = Field(default_factory=utcnow)
    store_id: ShortText
    seq: Seq = Field(default=0, description="Per-agent sequence number, increasing.")


class AccessGranted(EventBase):
    """A member, a staff member (``via`` ``staff``, not a shopper) or an operator was let in."""

    type: Literal["access_granted"] = "access_granted"
    door_id: ShortText
    member_id: Id | None = None
    tier: str | None = None
    via: Literal["member_code", "remote", "day_mode", "staff"] = "member_code"
    staff_id: Id | None = None
    staff_role: Literal["restocker", "cleaner", "manager"] | None = None


class AccessDenied(EventBase):
    """A request to enter was refused, with the reason shown on the reader."""

    type: Literal["access_denied"] = "access_denied"
    door_id: ShortText
    reason: DenyReason
    member_id: Id | None = None
    detail: FreeText = ""


class DoorOpened(EventBase):
    """The door position switch reports the door open."""

    type: Literal["door_opened"] = "door_opened"
    door_id: ShortText
    cause: Literal["grant", "exit", "day_mode", "forced", "unknown"] = "unknown"


class DoorClosed(EventBase):
    """The door position switch reports the door closed."""

    type: Literal["door_closed"] = "door_closed"
    door_id: ShortText


class ExitRequested(EventBase):
    """The request-to-exit button was pressed (free egress)."""

    type: Literal["exit_requested"] = "exit_requested"
    door_id: ShortText


class AlarmRaised(EventBase):
    """An alarm became active."""

    type: Literal["alarm_raised"] = "alarm_raised"
    alarm: AlarmKind
    source: ShortText
    severity: Literal["info", "warning", "critical"] = "warning"
    detail: FreeText = ""


class AlarmCleared(EventBase):
    """An alarm is no longer active."""

    type: Literal["alarm_cleared"] = "alarm_cleared"
    alarm: AlarmKind
    source: ShortText


class ModeChanged(EventBase):
    """The store switched between day and night mode, or lockdown changed."""

    type: Literal["mode_changed"] = "mode_changed"
    mode: Mode
    lockdown: bool = False
    by: Literal["schedule", "operator", "startup"] = "schedule"


MAX_SALE_LINES: Final = 1000
"""Most lines (and coupons, promotions) one sale may carry."""


class SaleLine(_Model):
    """One line of a sale."""

    product_id: Id
    name: FreeText = ""
    quantity: int = Field(default=1, ge=1, le=1000)
    weight_g: float | None = Field(default=None, ge=0, le=1_000_000, allow_inf_nan=False)
    unit_price_cents: Cents
    total_cents: Cents


class SaleCompleted(EventBase):
    """A checkout session was paid."""

    type: Literal["sale_completed"] = "sale_completed"
    sale_id: uuid.UUID
    station_id: ShortText
    member_id: Id
    lines: list[SaleLine] = Field(max_length=MAX_SALE_LINES)
    subtotal_cents: Cents
    discount_cents: Cents = Field(default=0, description="Promotions and coupons together.")
    total_cents: Cents
    coupon_ids: list[Id] = Field(default_factory=list, max_length=MAX_SALE_LINES)
    promotion_ids: list[Id] = Field(default_factory=list, max_length=MAX_SALE_LINES)
    promotion_discount_cents: Cents = Field(default=0, description="The part of discount_cents from promotions.")
    payment_mode: Literal["online", "offline"]
    authorization_id: Id | None = None


class CheckoutAbandoned(EventBase):
    """A checkout session ended unpaid with items on it (shopper cancelled or walked away).

    ``lines`` are the identified items; ``unidentified`` counts items never identified. The cloud
    raises an operator alert when anything was left unpaid: at night nobody else would notice.
    """

    type: Literal["checkout_abandoned"] = "checkout_abandoned"
    sale_id: uuid.UUID
    station_id: ShortText
    member_id: ShortText
    reason: Literal["shopper", "timeout"]
    lines: list[SaleLine] = Field(default_factory=list, max_length=MAX_SALE_LINES)
    value_cents: Cents = 0
    unidentified: int = Field(default=0, ge=0, le=MAX_COUNT)


class SyncApplied(EventBase):
    """The agent applied a downlink version (catalog, members, coupons)."""

    type: Literal["sync_applied"] = "sync_applied"
    channel: Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_no_nul)]
    version: Seq


class Telemetry(EventBase):
    """Periodic measurements; the only event an agent may drop when its outbox is full."""

    type: Literal["telemetry"] = "telemetry"
    values: dict[str, float]


Event = Annotated[
    AccessGranted
    | AccessDenied
    | DoorOpened
    | DoorClosed
    | ExitRequested
    | AlarmRaised
    | AlarmCleared
    | ModeChanged
    | SaleCompleted
    | CheckoutAbandoned
    | SyncApplied
    | Telemetry,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

# Event types an agent may drop (oldest first) when its outbox is full; all others never.
DROPPABLE_EVENT_TYPES = frozenset({"telemetry"})


# --------------------------------------------------------------------------- commands


class CommandBase(_Model):
    """Fields every operator command carries."""

    schema_version: Literal[1] = SCHEMA_VERSION
    correlation_id: Annotated[str, Field(min_length=1, max_length=64)]
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    issued_by: str = "operator"
    reason: Annotated[FreeText, Field(max_length=500)] = ""


class UnlockCommand(CommandBase):
    """Unlock a door once, for a short time (remote open)."""

    name: Literal["unlock"] = "unlock"
    door_id: ShortText = "main"
    duration_s: float = Field(default=5.0, gt=0, le=60)


class SetModeCommand(CommandBase):
    """Force day or night mode, or return to the schedule (``auto``)."""

    name: Literal["set_mode"] = "set_mode"
    mode: Literal["day", "night", "auto"]


class LockdownCommand(CommandBase):
    """Lock every door and refuse every code; exit stays free."""

    name: Literal["lockdown"] = "lockdown"
    active: bool


class ResetOccupancyCommand(CommandBase):
    """Set the occupancy counter after a staff head count."""

    name: Literal["reset_occupancy"] = "reset_occupancy"
    count: int = Field(default=0, ge=0, le=1000)


class ResolveReviewCommand(CommandBase):
    """Staff checked a held basket at ``station_id``: accept ``product_id`` for the oldest held item, or clear holds."""

    name: Literal["resolve_review"] = "resolve_review"
    station_id: ShortText
    product_id: ShortText | None = None
    quantity: int | None = Field(default=None, ge=1, le=100)


Command = Annotated[
    UnlockCommand | SetModeCommand | LockdownCommand | ResetOccupancyCommand | ResolveReviewCommand,
    Field(discriminator="name"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


class CommandReply(_Model):
    """The agent's answer to a command, echoing its correlation id."""

    schema_version: Literal[1] = SCHEMA_VERSION
    correlation_id: str
    name: str
    status: Literal["ok", "error", "rejected", "expired"]
    error: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    ts: datetime = Field(default_factory=utcnow)


MAX_ACK_EVENT_IDS: Final = 10_000


class DeliveryAck(_Model):
    """The cloud has durably committed these events of ``store_id``: the store may forget them.

    ``event_ids`` names every event the cloud committed (new or already known) or kept as a dead
    letter in one transaction; ``committed_through`` is the highest sequence number up to which
    the cloud holds every event of the store (for the store's state and for operators; the store
    forgets events by id only, so a restarted sequence can never drop an event by mistake).
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    store_id: ShortText
    event_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_ACK_EVENT_IDS)
    committed_through: int = Field(default=0, ge=0, le=2**62)
    ts: datetime = Field(default_factory=utcnow)


# ------------------------------------------------------------------------------ state


class DoorState(_Model):
    """Retained snapshot of a door (``state/door``)."""

    door_id: str
    mode: Mode
    lockdown: bool
    lock: Literal["locked", "unlocked", "unknown"]
    door: Literal["open", "closed", "unknown"]
    occupancy: int = Field(ge=-MAX_COUNT, le=MAX_COUNT)
    # Of those inside, how many came in on no grant (a passage sensor sees them; 0 without one).
    unidentified: int = Field(default=0, ge=0, le=MAX_COUNT)
    occupancy_cap: int = Field(ge=-MAX_COUNT, le=MAX_COUNT)
    alarms: list[FreeText]
    ts: Timestamp = Field(default_factory=utcnow)


class DeviceStatus(_Model):
    """Retained snapshot of one device (``state/device-{name}``)."""

    device: ShortText
    kind: Annotated[str, Field(max_length=64), AfterValidator(_no_nul)]
    status: Literal["online", "offline", "degraded"]
    detail: FreeText = ""
    ts: Timestamp = Field(default_factory=utcnow)


# ---------------------------------------------------------------------------- parsing


def describe_error(err: ValidationError, *, every: bool = False) -> str:
    """Return the first validation problem (or ``every`` one, joined by "; ") as ``field.path: message``."""
    problems = err.errors() if every else err.errors()[:1]
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())) or 'payload'}: {e.get('msg', 'invalid')}" for e in problems
    )


def parse_event(payload: bytes | str) -> Event:
    """Parse and validate an event payload.

    Raises:
        ContractError: the payload is not a valid event of schema version 1.
    """
    try:
        return EVENT_ADAPTER.validate_json(payload)
    except ValidationError as err:
        raise ContractError(f"invalid event: {describe_error(err)}") from err


def parse_command(payload: bytes | str) -> Command:
    """Parse and validate a command payload.

    Raises:
        ContractError: the payload is not a valid command of schema version 1.
    """
    try:
        return COMMAND_ADAPTER.validate_json(payload)
    except ValidationError as err:
        raise ContractError(f"invalid command: {describe_error(err)}") from err


def dump(model: BaseModel) -> bytes:
    """Serialise a payload model to compact JSON bytes."""
    return model.model_dump_json().encode()
