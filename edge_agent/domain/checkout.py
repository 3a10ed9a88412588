"""The self-checkout station: a pure state machine for one checkout (h11-style transition table).

A shopper scans their member code, puts items one by one on the scale, answers the screen when
the station is unsure, and pays from their member account, online or, while the cloud is
unreachable, offline within a per-night floor limit (see docs/checkout.md).

Inputs come in through :meth:`CheckoutStation.handle` with the clock injected; actions come out
(ask the camera for evidence, ask the cloud to authorise a payment, draw the screen, emit an
event). Nothing here does I/O or sleeps: timeouts run on :class:`Tick`.

Session states (every change lives in :data:`TRANSITIONS`)::

    idle --member code--> shopping --pay--> payment --online--> authorizing --approved--> receipt
                           ^   |              |  ^                  | declined / timeout
                           |   +--abandon-----+  +------------------+ (timeout: offline rule)
                           +--basket changed--+                       receipt --time--> idle

While *shopping*, every stable weight increase is an item: the station asks the adapters for
evidence (:class:`RequestEvidence`), fuses it with the weight (:func:`fusion.decide`) and accepts
it, asks the shopper, asks for a barcode scan, or holds the session for staff. A hold (an
unexplained item or an unexplained removal) blocks payment until staff resolve it or the item is
taken off again.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from contracts.member_code import CODE_PREFIX
from contracts.messages import (
    AlarmCleared,
    AlarmKind,
    AlarmRaised,
    CheckoutAbandoned,
    DenyReason,
    EventBase,
    Mode,
    SaleCompleted,
    SaleLine,
)
from edge_agent.domain.access import AccessVerifier
from edge_agent.domain.catalog import Catalog, Product
from edge_agent.domain.door import FEEDBACK, Emit, Feedback
from edge_agent.domain.fusion import (
    Accept,
    Ask,
    Decision,
    FusionConfig,
    NeedScan,
    VisionEvidence,
    accept_product,
    decide,
    from_barcode,
    removal_agrees,
)
from edge_agent.domain.payment import PaymentLedger, Totals
from edge_agent.domain.ports import Clock

MAX_SALE_CENTS = 100_000_000  # the contract's Cents bound


class State(StrEnum):
    """Where the station's session is."""

    IDLE = "idle"
    SHOPPING = "shopping"
    PAYMENT = "payment"  # totals shown; paying offline, refused or declined: retry or abandon
    AUTHORIZING = "authorizing"  # waiting for the cloud's answer
    RECEIPT = "receipt"


class Trigger(StrEnum):
    """Everything that can move the session."""

    IDENTIFIED = "identified"
    PAY = "pay"
    REQUEST = "request"
    PAID = "paid"
    DECLINED = "declined"
    FALLBACK = "fallback"
    EDIT = "edit"
    ABANDON = "abandon"
    DONE = "done"


# Rule: every change of session state lives in this table; a pair not here is refused.
TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (State.IDLE, Trigger.IDENTIFIED): State.SHOPPING,
    (State.RECEIPT, Trigger.IDENTIFIED): State.SHOPPING,
    (State.SHOPPING, Trigger.PAY): State.PAYMENT,
    (State.PAYMENT, Trigger.PAY): State.PAYMENT,
    (State.PAYMENT, Trigger.REQUEST): State.AUTHORIZING,
    (State.PAYMENT, Trigger.PAID): State.RECEIPT,
    (State.PAYMENT, Trigger.EDIT): State.SHOPPING,
    (State.AUTHORIZING, Trigger.PAID): State.RECEIPT,
    (State.AUTHORIZING, Trigger.DECLINED): State.PAYMENT,
    (State.AUTHORIZING, Trigger.FALLBACK): State.PAYMENT,
    (State.SHOPPING, Trigger.ABANDON): State.IDLE,
    (State.PAYMENT, Trigger.ABANDON): State.IDLE,
    (State.RECEIPT, Trigger.DONE): State.IDLE,
}

# Declines after which nothing was charged and the offline rule may be used.
OFFLINE_FALLBACK_REASONS = frozenset({"expired"})

MESSAGES = {
    "welcome": "Scan your member code to start",
    "code_first": "Scan your member code first",
    "busy": "Finish or cancel the current purchase first",
    "scan": "Please scan the item's barcode",
    "staff": "Please wait - staff has been called",
    "paying": "Paying...",
    "pay_wait": "Payment in progress - please wait",
    "pending": "Wait until every item is recognised",
    "held": "Staff must check the basket before paying",
    "empty": "Your basket is empty",
    "too_large": "Basket too large - please call staff",
    "place": "Now place the item on the scale",
    "cancelled": "Purchase cancelled",
    "thanks": "Thank you!",
    "late_item": "Item placed after paying was not added",
    "out_of_order": "Out of order - the scale is not working",
    "scale_lost": "The scale stopped working - pay for the items shown or cancel",
}


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class MemberCodeScanned:
    """A member code was read at the checkout (camera or serial scanner)."""

    text: str


@dataclass(frozen=True)
class WeightSettled:
    """The scale settled: ``grams`` on the platter, ``delta_grams`` since the last stable reading."""

    grams: float
    delta_grams: float


@dataclass(frozen=True)
class Evidence:
    """What the camera found for item ``item_seq``: barcodes and the model's top-k."""

    item_seq: int
    barcodes: tuple[str, ...] = ()
    predictions: tuple[tuple[str, float], ...] = ()
    camera_ok: bool = True
    model_ok: bool = True


@dataclass(frozen=True)
class ShopperChose:
    """The shopper picked a product from the question on screen (``None``: none of these)."""

    product_id: str | None


@dataclass(frozen=True)
class ItemScanned:
    """A barcode was read by the serial scanner (a member code is routed to the member path)."""

    barcode: str


@dataclass(frozen=True)
class Pay:
    """The shopper pressed pay."""


@dataclass(frozen=True)
class AuthorizationResult:
    """The cloud answered a payment request; ``error``: nothing was charged, no decision made."""

    request_id: uuid.UUID
    approved: bool
    authorization_id: str | None = None
    reason: str = ""
    error: bool = False


@dataclass(frozen=True)
class ConnectivityChanged:
    """The link to the cloud went up or down."""

    online: bool


@dataclass(frozen=True)
class VisionStatus:
    """The camera or the recognition model went away or came back."""

    camera_ok: bool
    model_ok: bool


@dataclass(frozen=True)
class ScaleStatus:
    """The scale's port went away (unplugged, dead) or came back."""

    online: bool


@dataclass(frozen=True)
class StaffResolved:
    """Staff checked the basket: ``product_id`` names the oldest held (else unresolved) item; ``None`` clears holds."""

    product_id: str | None = None
    quantity: int | None = None


@dataclass(frozen=True)
class Abandon:
    """The shopper cancelled, or a presence sensor says they walked away."""


@dataclass(frozen=True)
class CatalogUpdated:
    """A newer catalog arrived (items already in a basket keep their price)."""

    catalog: Catalog


@dataclass(frozen=True)
class Tick:
    """Time passed (timeouts)."""


CheckoutInput = (
    MemberCodeScanned
    | WeightSettled
    | Evidence
    | ShopperChose
    | ItemScanned
    | Pay
    | AuthorizationResult
    | ConnectivityChanged
    | VisionStatus
    | ScaleStatus
    | StaffResolved
    | Abandon
    | CatalogUpdated
    | Tick
)


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class RequestEvidence:
    """Grab camera frames for item ``item_seq``, decode barcodes and run the model; answer with :class:`Evidence`."""

    item_seq: int
    weight_g: float


@dataclass(frozen=True)
class RequestAuthorization:
    """Ask the cloud to charge the member's wallet; answer with :class:`AuthorizationResult` (same ``request_id``)."""

    request_id: uuid.UUID
    member_id: str
    amount_cents: int
    coupon_ids: tuple[str, ...]
    sale_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True)
class ShowBasket:
    """Draw the basket: its lines, the total, and how many items are still being recognised."""

    lines: tuple[SaleLine, ...]
    total_cents: int
    pending: int = 0


@dataclass(frozen=True)
class AskShopper:
    """Let the shopper pick what item ``item_seq`` is (touch or keypad), or scan it."""

    item_seq: int
    choices: tuple[Product, ...]
    prompt: str = "Which product is this?"


@dataclass(frozen=True)
class ShowMessage:
    """Show a short text."""

    text: str


@dataclass(frozen=True)
class ShowReceipt:
    """Show (or print) the receipt of a paid sale."""

    sale_id: uuid.UUID
    lines: tuple[SaleLine, ...]
    subtotal_cents: int
    discount_cents: int
    total_cents: int
    payment_mode: Literal["online", "offline"]


Action = RequestEvidence | RequestAuthorization | ShowBasket | AskShopper | ShowMessage | ShowReceipt | Emit | Feedback


# ---------------------------------------------------------------------------- config


@dataclass(frozen=True)
class StationConfig:
    """Per-station settings.

    Attributes:
        idle_timeout_s: a session with no shopper input for this long is abandoned.
        review_timeout_s: the same while the session is held for staff.
        evidence_timeout_s: an item without camera evidence after this long asks for a scan.
        auth_timeout_s: how long to wait for the cloud's payment answer (then the offline rule).
        auth_retry_s: re-send the same payment request this often while waiting (idempotent).
        receipt_s: how long the receipt stays before the station returns to idle.
        scan_window_s: a barcode scanned before placing the item is used for the next item this long.
        min_delta_g: smaller stable weight changes are drift, not items.
        empty_g: at or below this the platter counts as empty.
    """

    store_id: str
    station_id: str
    fusion: FusionConfig
    idle_timeout_s: float = 120.0
    review_timeout_s: float = 900.0
    evidence_timeout_s: float = 5.0
    auth_timeout_s: float = 10.0
    auth_retry_s: float = 3.0
    receipt_s: float = 8.0
    scan_window_s: float = 20.0
    min_delta_g: float = 3.0
    empty_g: float = 5.0


# ---------------------------------------------------------------------------- session

Status = Literal["evidence", "ask", "scan", "review", "accepted"]


@dataclass
class _Item:
    seq: int
    weight_g: float
    status: Status
    placed_at: float
    accept: Accept | None = None
    choices: tuple[Product, ...] = ()
    reason: str = ""
    scanned: tuple[str, ...] = ()


@dataclass
class _Request:
    request_id: uuid.UUID
    totals: Totals
    deadline: float
    next_retry: float
    expires_at: datetime


@dataclass
class _Session:
    member_id: str
    sale_id: uuid.UUID
    last_activity: float
    items: list[_Item] = field(default_factory=list)
    removals: list[float] = field(default_factory=list)  # unexplained removals (grams), each a hold
    request: _Request | None = None
    deferred: list[WeightSettled] = field(default_factory=list)  # weight changes while authorizing

    def holds(self) -> list[str]:
        out = [f"item {i.seq} ({i.weight_g:g} g): {i.reason}" for i in self.items if i.status == "review"]
        out += [f"removal of {g:g} g" for g in self.removals]
        return out

    def accepted(self) -> list[Accept]:
        return [i.accept for i in self.items if i.status == "accepted" and i.accept is not None]

    def pending(self) -> list[_Item]:
        return [i for i in self.items if i.status != "accepted"]


@dataclass(frozen=True)
class CheckoutSnapshot:
    """Retained state of one station (``as_dict`` gives the JSON form)."""

    station_id: str
    state: State
    member_id: str | None
    item_count: int
    total_cents: int
    degraded: bool
    held: bool
    online: bool
    scale_ok: bool
    holds: tuple[str, ...]
    pending: int
    ts: datetime

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "station_id": self.station_id,
            "state": self.state.value,
            "member_id": self.member_id,
            "item_count": self.item_count,
            "total_cents": self.total_cents,
            "degraded": self.degraded,
            "held": self.held,
            "online": self.online,
            "scale_ok": self.scale_ok,
            "holds": list(self.holds),
            "pending": self.pending,
            "ts": self.ts.isoformat(),
        }


def sale_lines(accepted: list[Accept]) -> tuple[SaleLine, ...]:
    """Return receipt lines: counted units of one product and price merged, weighed items one line each."""
    lines: list[SaleLine] = []
    merged: dict[tuple[str, int], int] = {}
    for a in accepted:
        weighed = a.product.sold_by_weight or a.source == "embedded"
        key = (a.product.id, a.unit_price_cents)
        if not weighed and key in merged:
            i = merged[key]
            old = lines[i]
            quantity = old.quantity + a.quantity
            lines[i] = SaleLine(
                product_id=old.product_id,
                name=old.name,
                quantity=quantity,
                weight_g=round((old.weight_g or 0.0) + a.weight_g, 1),
                unit_price_cents=old.unit_price_cents,
                total_cents=old.total_cents + a.price_cents,
            )
            continue
        if not weighed:
            merged[key] = len(lines)
        lines.append(
            SaleLine(
                product_id=a.product.id,
                name=a.product.name,
                quantity=a.quantity,
                weight_g=round(max(a.weight_g, 0.0), 1),
                unit_price_cents=a.unit_price_cents if not weighed else a.price_cents,
                total_cents=a.price_cents,
            )
        )
    return tuple(lines)


class CheckoutStation:
    """One checkout station's state machine (several stations = several instances)."""

    def __init__(
        self,
        config: StationConfig,
        verifier: AccessVerifier,
        catalog: Catalog,
        ledger: PaymentLedger,
        clock: Clock,
        *,
        online: bool = False,
        new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        """Create the station; call ``start`` before anything else."""
        self.config = config
        self.verifier = verifier
        self.catalog = catalog
        self.ledger = ledger
        self.clock = clock
        self.online = online
        self.new_id = new_id
        self.state = State.IDLE
        self.session: _Session | None = None
        self.camera_ok = True
        self.model_ok = True
        self.scale_ok = True
        self.alarms: dict[tuple[AlarmKind, str], str] = {}
        self.orphan_review = False  # a staff-review alarm outlived its session
        self.sold: Counter[str] = Counter()  # product id → units (grams for loose produce) sold here
        self.sales = 0
        self._seq = 0
        self._on_scale: list[float] = []  # weights on the platter that belong to no basket
        self._scan: tuple[str, float] | None = None  # a barcode scanned before its item was placed
        self._receipt_until = 0.0
        self._started = False

    # ------------------------------------------------------------------ helpers
    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)

    def _emit(self, cls: type[EventBase], **kw: object) -> Emit:
        return Emit(cls(store_id=self.config.store_id, ts=self._now(), **kw))

    def _fire(self, trigger: Trigger) -> None:
        new = TRANSITIONS.get((self.state, trigger))
        if new is None:
            raise RuntimeError(f"illegal checkout transition {self.state.value} --{trigger.value}-->")
        self.state = new

    def _can(self, trigger: Trigger) -> bool:
        return (self.state, trigger) in TRANSITIONS

    def _raise(self, kind: AlarmKind, source: str, out: list[Action], detail: str) -> None:
        if (kind, source) in self.alarms:
            return
        self.alarms[(kind, source)] = detail
        out.append(self._emit(AlarmRaised, alarm=kind, source=source, severity="warning", detail=detail[:500]))

    def _clear(self, kind: AlarmKind, source: str, out: list[Action]) -> None:
        if self.alarms.pop((kind, source), None) is not None:
            out.append(self._emit(AlarmCleared, alarm=kind, source=source))

    @property
    def degraded(self) -> bool:
        """Return whether items can only be identified by barcode (camera or model down)."""
        return not (self.camera_ok and self.model_ok)

    @property
    def held(self) -> bool:
        """Return whether the session waits for staff (payment blocked)."""
        return self.session is not None and bool(self.session.holds())

    # ------------------------------------------------------------------ public
    def start(self) -> list[Action]:
        """Show the welcome screen."""
        self._started = True
        return [self._idle_screen()]

    def snapshot(self) -> CheckoutSnapshot:
        """Return the retained station state."""
        s = self.session
        accepted = s.accepted() if s else []
        return CheckoutSnapshot(
            station_id=self.config.station_id,
            state=self.state,
            member_id=s.member_id if s else None,
            item_count=sum(a.quantity for a in accepted),
            total_cents=sum(a.price_cents for a in accepted),
            degraded=self.degraded,
            held=self.held,
            online=self.online,
            scale_ok=self.scale_ok,
            holds=tuple(s.holds()) if s else (),
            pending=len(s.pending()) if s else 0,
            ts=self._now(),
        )

    def handle(self, event: CheckoutInput) -> list[Action]:
        """Process one input and return the actions to carry out, in order."""
        if not self._started:
            raise RuntimeError("CheckoutStation.start() must run first")
        out: list[Action] = []
        if self.session is not None and not isinstance(
            event, Tick | Evidence | ConnectivityChanged | VisionStatus | ScaleStatus
        ):
            self.session.last_activity = self.clock.monotonic()
        if isinstance(event, MemberCodeScanned):
            self._on_member_code(event.text, out)
        elif isinstance(event, WeightSettled):
            self._on_weight(event, out)
        elif isinstance(event, Evidence):
            self._on_evidence(event, out)
        elif isinstance(event, ShopperChose):
            self._on_choice(event, out)
        elif isinstance(event, ItemScanned):
            self._on_scan(event.barcode, out)
        elif isinstance(event, Pay):
            self._on_pay(out)
        elif isinstance(event, AuthorizationResult):
            self._on_auth_result(event, out)
        elif isinstance(event, ConnectivityChanged):
            self.online = event.online
        elif isinstance(event, VisionStatus):
            self._vision(event.camera_ok, event.model_ok, out)
        elif isinstance(event, ScaleStatus):
            self._scale(event.online, out)
        elif isinstance(event, StaffResolved):
            self._on_staff(event, out)
        elif isinstance(event, Abandon):
            self._on_abandon(out)
        elif isinstance(event, CatalogUpdated):
            if event.catalog.version >= self.catalog.version:
                self.catalog = event.catalog
        else:
            self._on_tick(out)
        return out

    # ------------------------------------------------------------------ member
    def _on_member_code(self, text: str, out: list[Action]) -> None:
        if not self.scale_ok and self.session is None:
            out.append(Feedback(False, MESSAGES["out_of_order"]))
            out.append(self._idle_screen())
            return
        if not self._can(Trigger.IDENTIFIED):
            out.append(ShowMessage(MESSAGES["pay_wait"] if self.state is State.AUTHORIZING else MESSAGES["busy"]))
            return
        now, mono = self.clock.time(), self.clock.monotonic()
        # Day mode: the checkout applies no hours or occupancy rule, only signatures, replay, revocation.
        decision = self.verifier.check(text, now=now, mono=mono, mode=Mode.DAY, occupancy=0)
        if not decision.granted or decision.member_id is None:
            reason = decision.reason or DenyReason.MALFORMED
            out.append(Feedback(False, FEEDBACK[reason], reason))
            out.append(ShowMessage(FEEDBACK[reason]))
            return
        self.verifier.commit(decision, mono)
        self._fire(Trigger.IDENTIFIED)
        self.session = _Session(member_id=decision.member_id, sale_id=self.new_id(), last_activity=mono)
        self._scan = None
        out.append(Feedback(True, "Welcome - place your items one by one"))
        self._show_basket(out)

    # ------------------------------------------------------------------ weight
    def _on_weight(self, event: WeightSettled, out: list[Action]) -> None:
        self._weight_change(event, out)
        if event.grams <= self.config.empty_g:
            self._on_scale.clear()  # the platter is empty: nothing from earlier sessions is left on it

    def _weight_change(self, event: WeightSettled, out: list[Action]) -> None:
        delta = event.delta_grams
        if abs(delta) < self.config.min_delta_g:
            return
        s = self.session
        if s is None or self.state in (State.IDLE, State.RECEIPT):
            if delta > 0:
                self._on_scale.append(delta)
                if self.state is State.IDLE:
                    out.append(ShowMessage(MESSAGES["code_first"]))
            else:
                self._take_off_scale(-delta)
            return
        if self.state is State.AUTHORIZING:
            s.deferred.append(event)  # the amount is already asked for; decide after the answer
            return
        if self.state is State.PAYMENT:
            self._edit(out)
        if delta > 0:
            self._placed(s, delta, out)
        else:
            self._removed(s, -delta, out)

    def _take_off_scale(self, grams: float) -> bool:
        for i in range(len(self._on_scale) - 1, -1, -1):
            if removal_agrees(self._on_scale[i], grams, self.config.fusion):
                del self._on_scale[i]
                return True
        return False

    def _placed(self, s: _Session, grams: float, out: list[Action]) -> None:
        fusion = self.config.fusion
        for i, removed in enumerate(s.removals):
            if removal_agrees(removed, grams, fusion):  # the item taken off unexplained came back
                del s.removals[i]
                self._after_holds_change(out)
                self._show_basket(out)
                return
        self._seq += 1
        item = _Item(self._seq, grams, "evidence", self.clock.monotonic())
        s.items.append(item)
        scan = self._take_recent_scan()
        if scan is not None:
            item.scanned = (scan,)
            result = from_barcode(scan, "scanner", grams, self.catalog, fusion, self.clock.time())
            if isinstance(result, Accept):
                self._apply(s, item, result, out)
                return
        out.append(RequestEvidence(item.seq, grams))
        self._show_basket(out)

    def _take_recent_scan(self) -> str | None:
        scan, self._scan = self._scan, None
        if scan is None or self.clock.monotonic() - scan[1] > self.config.scan_window_s:
            return None
        return scan[0]

    def _removed(self, s: _Session, grams: float, out: list[Action]) -> None:
        fusion = self.config.fusion
        for i in range(len(s.items) - 1, -1, -1):  # most recent matching item first
            if removal_agrees(s.items[i].weight_g, grams, fusion):
                was = s.items.pop(i).status
                if was == "review":
                    self._after_holds_change(out)
                self._show_basket(out)
                self._ask_next(s, out)
                return
        if self._take_off_scale(grams):
            return  # something that was on the scale before this session
        s.removals.append(grams)
        self._raise(
            AlarmKind.STAFF_REVIEW,
            self.config.station_id,
            out,
            f"member {s.member_id}: {grams:g} g taken off the scale matches no item",
        )
        out.append(ShowMessage(MESSAGES["staff"]))

    # ------------------------------------------------------------------ evidence and decisions
    def _on_evidence(self, event: Evidence, out: list[Action]) -> None:
        self._vision(event.camera_ok, event.model_ok, out)
        s = self.session
        if s is None or self.state not in (State.SHOPPING, State.PAYMENT):
            return
        item = next((i for i in s.items if i.seq == event.item_seq), None)
        if item is None or item.status not in ("evidence", "scan"):
            return  # unknown, already decided, or waiting for the shopper/staff
        vision = VisionEvidence(event.barcodes, event.predictions, event.camera_ok, event.model_ok)
        decision = decide(
            item.weight_g, vision, self.catalog, self.config.fusion, now=self.clock.time(), scanned=item.scanned
        )
        if self.state is State.PAYMENT and not isinstance(decision, NeedScan):
            self._edit(out)
        self._apply(s, item, decision, out)

    def _apply(self, s: _Session, item: _Item, decision: Decision, out: list[Action]) -> None:
        if isinstance(decision, Accept):
            was_review = item.status == "review"
            item.status, item.accept, item.choices = "accepted", decision, ()
            if was_review:
                self._after_holds_change(out)
            self._show_basket(out)
            self._ask_next(s, out)
        elif isinstance(decision, Ask):
            item.status, item.choices, item.reason = "ask", decision.choices, decision.reason
            self._ask_next(s, out)
        elif isinstance(decision, NeedScan):
            item.status, item.reason = "scan", decision.reason
            out.append(ShowMessage(f"{MESSAGES['scan']} ({decision.reason})" if decision.reason else MESSAGES["scan"]))
        else:
            item.status, item.reason = "review", decision.reason
            self._raise(
                AlarmKind.STAFF_REVIEW,
                self.config.station_id,
                out,
                f"member {s.member_id}: item of {item.weight_g:g} g: {decision.reason}",
            )
            out.append(ShowMessage(MESSAGES["staff"]))
            self._show_basket(out)

    def _ask_next(self, s: _Session, out: list[Action]) -> None:
        item = next((i for i in s.items if i.status == "ask"), None)
        if item is not None:
            out.append(AskShopper(item.seq, item.choices))

    def _on_choice(self, event: ShopperChose, out: list[Action]) -> None:
        s = self.session
        if s is None or self.state not in (State.SHOPPING, State.PAYMENT):
            return
        item = next((i for i in s.items if i.status == "ask"), None)
        if item is None:
            return
        if event.product_id is None:
            self._apply(s, item, NeedScan("none of the suggestions"), out)
            self._ask_next(s, out)
            return
        product = next((p for p in item.choices if p.id == event.product_id), None)
        if product is None:
            out.append(AskShopper(item.seq, item.choices, "Please choose one of these"))
            return
        accepted = accept_product(product, item.weight_g, "shopper", self.config.fusion, self.clock.time())
        if self.state is State.PAYMENT:
            self._edit(out)
        self._apply(s, item, accepted if accepted is not None else NeedScan("choice does not match the weight"), out)

    def _on_scan(self, code: str, out: list[Action]) -> None:
        if code.strip().startswith(CODE_PREFIX):
            self._on_member_code(code.strip(), out)
            return
        s = self.session
        if s is None or self.state in (State.IDLE, State.RECEIPT):
            out.append(ShowMessage(MESSAGES["code_first"]))
            return
        if self.state is State.AUTHORIZING:
            out.append(ShowMessage(MESSAGES["pay_wait"]))
            return
        fusion, now = self.config.fusion, self.clock.time()
        unresolved = s.pending()
        first_reason = ""
        for item in unresolved:
            result = from_barcode(code, "scanner", item.weight_g, self.catalog, fusion, now)
            if isinstance(result, Accept):
                if self.state is State.PAYMENT:
                    self._edit(out)
                self._apply(s, item, result, out)
                return
            first_reason = first_reason or result
        if unresolved:
            out.append(ShowMessage(f"Scanned item does not match: {first_reason}"))
            return
        if self.state is State.PAYMENT:
            self._edit(out)
        self._scan = (code, self.clock.monotonic())
        out.append(ShowMessage(MESSAGES["place"]))

    def _vision(self, camera_ok: bool, model_ok: bool, out: list[Action]) -> None:
        station = self.config.station_id
        if camera_ok != self.camera_ok:
            if camera_ok:
                self._clear(AlarmKind.CAMERA_DOWN, station, out)
            else:
                self._raise(AlarmKind.CAMERA_DOWN, station, out, "camera down: checkout asks for barcode scans")
        self.camera_ok = camera_ok
        if not camera_ok:
            return  # without frames the model's state is unknown; keep the last one
        model = f"{station}/model"
        if model_ok != self.model_ok:
            if model_ok:
                self._clear(AlarmKind.DEVICE_ERROR, model, out)
            else:
                self._raise(AlarmKind.DEVICE_ERROR, model, out, "recognition model missing: checkout asks for scans")
        self.model_ok = model_ok

    def _scale(self, online: bool, out: list[Action]) -> None:
        """Without a scale nothing new can be weighed: a session may pay for what it has; none starts.

        The driver's ``device_offline`` alarm tells the operator; the station only changes its screen.
        """
        if online == self.scale_ok:
            return
        self.scale_ok = online
        if self.session is None:
            out.append(self._idle_screen())
        elif online:
            self._show_basket(out)
        else:
            out.append(ShowMessage(MESSAGES["scale_lost"]))

    def _idle_screen(self) -> ShowMessage:
        return ShowMessage(MESSAGES["welcome" if self.scale_ok else "out_of_order"])

    # ------------------------------------------------------------------ staff
    def _after_holds_change(self, out: list[Action]) -> None:
        if not self.held and not self.orphan_review:
            self._clear(AlarmKind.STAFF_REVIEW, self.config.station_id, out)

    def _on_staff(self, event: StaffResolved, out: list[Action]) -> None:
        s = self.session
        if s is not None and event.product_id is not None:
            item = next((i for i in s.items if i.status == "review"), None) or next(iter(s.pending()), None)
            product = self.catalog.get(event.product_id)
            if item is None or product is None:
                out.append(ShowMessage("Staff: nothing to resolve" if item is None else "Staff: unknown product"))
                return
            now = self.clock.time()
            accepted = accept_product(product, item.weight_g, "staff", self.config.fusion, now, force=True)
            assert accepted is not None
            if event.quantity is not None and event.quantity >= 1 and not product.sold_by_weight:
                unit = product.unit_price_at(self.clock.time())
                accepted = Accept(product, event.quantity, item.weight_g, unit * event.quantity, "staff")
            self._apply(s, item, accepted, out)
            return
        if s is not None:
            s.items = [i for i in s.items if i.status != "review"]
            s.removals.clear()
            self._show_basket(out)
        self.orphan_review = False
        self._after_holds_change(out)

    # ------------------------------------------------------------------ payment
    def _on_pay(self, out: list[Action]) -> None:
        s = self.session
        if s is None or not self._can(Trigger.PAY):
            out.append(ShowMessage(MESSAGES["pay_wait"] if self.state is State.AUTHORIZING else MESSAGES["code_first"]))
            return
        if s.holds():
            out.append(ShowMessage(MESSAGES["held"]))
            return
        if s.pending():
            out.append(ShowMessage(MESSAGES["pending"]))
            self._ask_next(s, out)
            return
        accepted = s.accepted()
        if not accepted:
            out.append(ShowMessage(MESSAGES["empty"]))
            return
        subtotal = sum(a.price_cents for a in accepted)
        if subtotal > MAX_SALE_CENTS:
            out.append(ShowMessage(MESSAGES["too_large"]))
            return
        now, mono = self.clock.time(), self.clock.monotonic()
        self.ledger.release(s.sale_id)
        promotion_cents, promotion_ids = self.catalog.promotion_discount(
            ((line.product_id, line.quantity, line.total_cents) for line in sale_lines(accepted)), now
        )
        totals = self.ledger.totals(s.member_id, subtotal, now, s.sale_id, promotion_cents, promotion_ids)
        self.ledger.reserve(totals.coupon_ids, s.sale_id)
        self._fire(Trigger.PAY)
        if not self.online:
            self._pay_offline(s, totals, out, "offline")
            return
        expires = datetime.fromtimestamp(now + self.config.auth_timeout_s, UTC)
        request = _Request(
            self.new_id(), totals, mono + self.config.auth_timeout_s, mono + self.config.auth_retry_s, expires
        )
        s.request = request
        self._fire(Trigger.REQUEST)
        out.append(self._authorization(s, request))
        out.append(ShowMessage(MESSAGES["paying"]))

    def _authorization(self, s: _Session, r: _Request) -> RequestAuthorization:
        return RequestAuthorization(
            r.request_id, s.member_id, r.totals.total_cents, r.totals.coupon_ids, s.sale_id, r.expires_at
        )

    def _pay_offline(self, s: _Session, totals: Totals, out: list[Action], why: str) -> None:
        now = self.clock.time()
        if self.ledger.offline_allows(s.member_id, totals.total_cents, now):
            self._complete(s, totals, "offline", None, out)
            return
        left = self.ledger.offline_remaining(s.member_id, now)
        limit = self.ledger.config.floor_limit_cents
        out.append(
            ShowMessage(
                f"Payment refused ({why}): offline limit {_money(limit)} per night, "
                f"{_money(left)} left - remove items or try later"
            )
        )

    def _on_auth_result(self, event: AuthorizationResult, out: list[Action]) -> None:
        s = self.session
        if s is None or self.state is not State.AUTHORIZING or s.request is None:
            return  # late or unknown answer: the cloud reconciles by sale_id
        request = s.request
        if event.request_id != request.request_id:
            return
        s.request = None
        if event.approved:  # charged: the sale completes even if the id is missing (reconciled by sale_id)
            self._complete(s, request.totals, "online", event.authorization_id, out)
            return
        if event.error or event.reason in OFFLINE_FALLBACK_REASONS:
            self._fallback(s, request, out, event.reason or "cloud error")
            return
        self._fire(Trigger.DECLINED)
        self.ledger.release(s.sale_id)
        if event.reason == "coupon_unavailable":
            self.ledger.mark_redeemed(request.totals.coupon_ids)
        out.append(ShowMessage(f"Payment declined: {(event.reason or 'declined').replace('_', ' ')}"))
        self._replay_deferred(out)

    def _fallback(self, s: _Session, request: _Request, out: list[Action], why: str) -> None:
        self._fire(Trigger.FALLBACK)
        if s.deferred:
            self._replay_deferred(out)  # the basket changed while waiting: back to shopping, pay again
            return
        self._pay_offline(s, request.totals, out, why)

    def _replay_deferred(self, out: list[Action]) -> None:
        s = self.session
        if s is None:
            return
        deferred, s.deferred = s.deferred, []
        for w in deferred:
            self._on_weight(w, out)

    def _complete(
        self, s: _Session, totals: Totals, mode: Literal["online", "offline"], auth_id: str | None, out: list[Action]
    ) -> None:
        self._fire(Trigger.PAID)
        accepted = s.accepted()
        lines = sale_lines(accepted)
        sale = SaleCompleted(
            store_id=self.config.store_id,
            ts=self._now(),
            sale_id=s.sale_id,
            station_id=self.config.station_id,
            member_id=s.member_id,
            lines=list(lines),
            subtotal_cents=totals.subtotal_cents,
            discount_cents=totals.discount_cents,
            total_cents=totals.total_cents,
            coupon_ids=list(totals.coupon_ids),
            promotion_ids=list(totals.promotion_ids),
            promotion_discount_cents=totals.promotion_cents,
            payment_mode=mode,
            authorization_id=auth_id,
        )
        self.ledger.record_sale(sale)
        for a in accepted:
            self.sold[a.product.id] += round(a.weight_g) if a.product.sold_by_weight else a.quantity
        self.sales += 1
        self._on_scale.extend(i.weight_g for i in s.items)  # paid items still on the platter
        self._receipt_until = self.clock.monotonic() + self.config.receipt_s
        out.append(Emit(sale))
        out.append(
            ShowReceipt(s.sale_id, lines, totals.subtotal_cents, totals.discount_cents, totals.total_cents, mode)
        )
        deferred = s.deferred
        self.session = None
        for w in deferred:  # changes made while the payment was being authorised
            if w.delta_grams > 0:
                self._on_scale.append(w.delta_grams)
                self.orphan_review = True
                self._raise(
                    AlarmKind.STAFF_REVIEW,
                    self.config.station_id,
                    out,
                    f"member {s.member_id}: {w.delta_grams:g} g placed while paying was not paid",
                )
                out.append(ShowMessage(MESSAGES["late_item"]))
            else:
                self._take_off_scale(-w.delta_grams)
        s.deferred = []

    def _edit(self, out: list[Action]) -> None:
        """Return from payment to shopping because the basket changes."""
        s = self.session
        if s is not None and self._can(Trigger.EDIT):
            self._fire(Trigger.EDIT)
            self.ledger.release(s.sale_id)

    # ------------------------------------------------------------------ abandon and time
    def _on_abandon(self, out: list[Action]) -> None:
        if self.state is State.AUTHORIZING:
            out.append(ShowMessage(MESSAGES["pay_wait"]))
            return
        if self._can(Trigger.ABANDON):
            self._abandon(out, "shopper")

    def _abandon(self, out: list[Action], reason: Literal["shopper", "timeout"]) -> None:
        s = self.session
        self._fire(Trigger.ABANDON)
        self.session = None
        self._scan = None
        if s is not None:
            self.ledger.release(s.sale_id)
            self._on_scale.extend(i.weight_g for i in s.items)  # left on the platter
            if s.holds():
                self.orphan_review = True  # the alarm stays until staff resolve it
            if s.items:  # unpaid goods: the cloud tells an operator
                accepted = s.accepted()
                out.append(
                    self._emit(
                        CheckoutAbandoned,
                        sale_id=s.sale_id,
                        station_id=self.config.station_id,
                        member_id=s.member_id,
                        reason=reason,
                        lines=list(sale_lines(accepted)),
                        value_cents=sum(a.price_cents for a in accepted),
                        unidentified=len(s.items) - len(accepted),
                    )
                )
        out.append(ShowMessage(MESSAGES["cancelled"]))

    def _on_tick(self, out: list[Action]) -> None:
        mono = self.clock.monotonic()
        s = self.session
        if self.state is State.RECEIPT:
            if mono >= self._receipt_until:
                self._fire(Trigger.DONE)
                out.append(self._idle_screen())
            return
        if s is None:
            return
        if self.state is State.AUTHORIZING:
            r = s.request
            if r is None:  # pragma: no cover - authorizing always has a request
                return
            if mono >= r.deadline:
                s.request = None
                self._fallback(s, r, out, "no answer from the cloud")
            elif mono >= r.next_retry:
                r.next_retry = mono + self.config.auth_retry_s
                out.append(self._authorization(s, r))  # same request_id: the cloud never charges twice
            return
        for item in s.items:
            if item.status == "evidence" and mono - item.placed_at >= self.config.evidence_timeout_s:
                self._apply(s, item, NeedScan("no camera answer"), out)
        limit = self.config.review_timeout_s if s.holds() else self.config.idle_timeout_s
        if mono - s.last_activity >= limit:
            self._abandon(out, "timeout")

    def _show_basket(self, out: list[Action]) -> None:
        s = self.session
        accepted = s.accepted() if s else []
        pending = len(s.pending()) if s else 0
        out.append(ShowBasket(sale_lines(accepted), sum(a.price_cents for a in accepted), pending))


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
