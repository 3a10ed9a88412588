"""The station's state and the helpers every part of its state machine uses."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contracts.messages import AlarmKind, DenyReason, Event, Mode
from edge_agent.domain.access import AccessVerifier
from edge_agent.domain.actions import FEEDBACK, AlarmBook, Emit, Feedback, emit
from edge_agent.domain.catalog import Catalog
from edge_agent.domain.checkout.outputs import MESSAGES, AskShopper, ShowBasket, ShowMessage, StationAction, ZeroScale
from edge_agent.domain.checkout.session import (
    TRANSITIONS,
    Session,
    SessionTrigger,
    State,
    next_session_state,
    sale_lines,
)
from edge_agent.domain.fusion import FusionConfig
from edge_agent.domain.payment import PaymentLedger
from edge_agent.domain.ports import Clock


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
        pay_codes / cancel_codes: codes printed on the station; scanning one pays / cancels.
        pay_by_member_code: the session's member presenting their code again pays.
        auto_zero_g: an empty platter reading up to this much (drift) is zeroed while idle and at
            session start; keep it within the scale's own zero range (0 turns auto-zero off).
        zero_min_g: smaller readings are left alone (no zero command for a platter at zero).
        clear_timeout_s: a platter still loaded this long after a basket ended raises ``scale_not_empty``.
        start_wait_s: a member code scanned onto a loaded platter opens its session when the platter
            empties within this long.
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
    pay_codes: frozenset[str] = frozenset()
    cancel_codes: frozenset[str] = frozenset()
    pay_by_member_code: bool = True
    auto_zero_g: float = 20.0
    zero_min_g: float = 1.0
    clear_timeout_s: float = 30.0
    start_wait_s: float = 10.0


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


class StationCore:
    """A station's state and shared helpers; the steps of its state machine build on it."""

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
        self.session: Session | None = None
        self.camera_ok = True
        self.model_ok = True
        self.scale_ok = True
        self.alarms = AlarmBook(detail_limit=500)
        self.orphan_review = False  # a staff-review alarm outlived its session
        self.sold: Counter[str] = Counter()  # product id → units (grams for loose produce) sold here
        self.sales = 0
        self._seq = 0
        self._on_scale: list[float] = []  # weights on the platter that belong to no basket
        self._scan: tuple[str, float] | None = None  # a barcode scanned before its item was placed
        self._receipt_until = 0.0
        self._started = False
        self.platter_g = 0.0  # the last settled reading
        self.paid_by: Counter[str] = Counter()  # what confirmed each sale: touch, keypad, scanner, member_code
        # How items were decided: accepted by <source> (vision, barcode, label, staff, ...), ask, scan, review.
        self.item_decisions: Counter[str] = Counter()
        self._left_by: float | None = None  # a basket ended with goods on the platter: clear it by then
        self._waiting: tuple[str, float] | None = None  # a member code scanned onto a loaded platter

    # ------------------------------------------------------------------ helpers
    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)

    def _emit(self, cls: type[Event], **kw: object) -> Emit:
        return emit(cls, self.config.store_id, self._now(), **kw)

    def _fire(self, trigger: SessionTrigger) -> None:
        self.state = next_session_state(self.state, trigger)

    def _can(self, trigger: SessionTrigger) -> bool:
        return (self.state, trigger) in TRANSITIONS

    def _raise(self, kind: AlarmKind, source: str, out: list[StationAction], detail: str) -> None:
        raised = self.alarms.raise_alarm(kind, source, self.config.store_id, self._now(), detail=detail)
        if raised is not None:
            out.append(raised)

    def _clear(self, kind: AlarmKind, source: str, out: list[StationAction]) -> None:
        cleared = self.alarms.clear_alarm(kind, source, self.config.store_id, self._now())
        if cleared is not None:
            out.append(cleared)

    @property
    def degraded(self) -> bool:
        """Return whether items can only be identified by barcode (camera or model down)."""
        return not (self.camera_ok and self.model_ok)

    @property
    def held(self) -> bool:
        """Return whether the session waits for staff (payment blocked)."""
        return self.session is not None and bool(self.session.holds())

    def _ask_next(self, s: Session, out: list[StationAction]) -> None:
        item = next((i for i in s.items if i.status == "ask"), None)
        if item is not None:
            out.append(AskShopper(item.seq, item.choices))

    def _idle_screen(self) -> ShowMessage:
        if not self.scale_ok:
            return ShowMessage(MESSAGES["out_of_order"])
        return ShowMessage(MESSAGES["clear_scale" if self.scale_not_empty else "welcome"])

    # ------------------------------------------------------------------ platter care
    @property
    def scale_not_empty(self) -> bool:
        """Return whether the ``scale_not_empty`` alarm is raised."""
        return (AlarmKind.SCALE_NOT_EMPTY, self.config.station_id) in self.alarms.active

    def _basket_left(self) -> None:
        """Start the clear-the-platter timer when a basket ends with goods on the scale."""
        if self.platter_g > self.config.empty_g:
            self._left_by = self.clock.monotonic() + self.config.clear_timeout_s

    def _platter_left(self, out: list[StationAction]) -> None:
        g = self.platter_g
        self._raise(AlarmKind.SCALE_NOT_EMPTY, self.config.station_id, out, f"{g:g} g left on the scale after a basket")
        self._left_by = None

    def _platter_emptied(self, out: list[StationAction]) -> None:
        was = self.scale_not_empty
        self._left_by = None
        self._clear(AlarmKind.SCALE_NOT_EMPTY, self.config.station_id, out)
        waiting, self._waiting = self._waiting, None
        if waiting is not None and self.clock.monotonic() - waiting[1] <= self.config.start_wait_s:
            self._on_member_code(waiting[0], out)  # the shopper cleared the platter: their session starts
        elif was and self.session is None and self.state is State.IDLE:
            out.append(self._idle_screen())

    def _maybe_zero(self, out: list[StationAction]) -> None:
        """Zero drift on an empty platter (never under a basket or goods the station knows of)."""
        g = abs(self.platter_g)
        cfg = self.config
        if self.scale_ok and not self._on_scale and cfg.auto_zero_g > 0 and cfg.zero_min_g <= g <= cfg.auto_zero_g:
            out.append(ZeroScale(self.platter_g))

    def _platter_blocks_start(self, text: str, out: list[StationAction]) -> bool:
        """Hold a new session back while goods lie on the platter (they would be no one's items)."""
        if self.platter_g <= self.config.empty_g or (not self._on_scale and self.platter_g <= self.config.auto_zero_g):
            return False
        self._waiting = (text, self.clock.monotonic())
        out.append(Feedback(False, MESSAGES["clear_scale"]))
        out.append(ShowMessage(MESSAGES["clear_scale"]))
        return True

    # ------------------------------------------------------------------ staff
    def _after_holds_change(self, out: list[StationAction]) -> None:
        if not self.held and not self.orphan_review:
            self._clear(AlarmKind.STAFF_REVIEW, self.config.station_id, out)

    def _edit(self, out: list[StationAction]) -> None:
        """Return from payment to shopping because the basket changes."""
        s = self.session
        if s is not None and self._can(SessionTrigger.EDIT):
            self._fire(SessionTrigger.EDIT)
            self.ledger.release(s.sale_id)

    def _show_basket(self, out: list[StationAction]) -> None:
        s = self.session
        accepted = s.accepted() if s else []
        pending = len(s.pending()) if s else 0
        out.append(ShowBasket(sale_lines(accepted), sum(a.price_cents for a in accepted), pending))

    def _on_member_code(self, text: str, out: list[StationAction]) -> None:
        if not self.scale_ok and self.session is None:
            out.append(Feedback(False, MESSAGES["out_of_order"]))
            out.append(self._idle_screen())
            return
        if not self._can(SessionTrigger.IDENTIFIED):
            out.append(ShowMessage(MESSAGES["pay_wait"] if self.state is State.AUTHORIZING else MESSAGES["busy"]))
            return
        if self._platter_blocks_start(text, out):
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
        self._fire(SessionTrigger.IDENTIFIED)
        self.session = Session(member_id=decision.member_id, sale_id=self.new_id(), last_activity=mono, code_text=text)
        self._scan = None
        self._maybe_zero(out)
        out.append(Feedback(True, "Welcome - place your items one by one"))
        self._show_basket(out)

    def _member_pays(self, text: str) -> bool:
        """Return whether ``text`` is the session's member presenting their code again to pay."""
        s = self.session
        if s is None or not self.config.pay_by_member_code or self.state not in (State.SHOPPING, State.PAYMENT):
            return False
        if text == s.code_text:
            return True  # the same code shown again (the replay cache would refuse it as a new entry)
        now, mono = self.clock.time(), self.clock.monotonic()
        decision = self.verifier.check(text, now=now, mono=mono, mode=Mode.DAY, occupancy=0)
        if not decision.granted or decision.member_id != s.member_id:
            return False
        self.verifier.commit(decision, mono)
        return True

    def _vision(self, camera_ok: bool, model_ok: bool, out: list[StationAction]) -> None:
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
