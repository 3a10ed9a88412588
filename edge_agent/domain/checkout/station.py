"""The self-checkout station: one state machine per checkout, built from its steps."""

from __future__ import annotations

from typing import Literal

from contracts.member_code import CODE_PREFIX
from contracts.messages import CheckoutAbandoned
from edge_agent.domain.checkout.core import CheckoutSnapshot
from edge_agent.domain.checkout.inputs import (
    Abandon,
    AuthorizationResult,
    CatalogUpdated,
    CheckoutInput,
    ConnectivityChanged,
    Evidence,
    ItemScanned,
    MemberCodeScanned,
    Pay,
    ScaleStatus,
    ShopperChose,
    StaffResolved,
    StationTick,
    VisionStatus,
    WeightSettled,
)
from edge_agent.domain.checkout.outputs import MESSAGES, ShowMessage, StationAction
from edge_agent.domain.checkout.paying import PayingSteps
from edge_agent.domain.checkout.session import SessionTrigger, State, sale_lines
from edge_agent.domain.fusion import Accept, NeedScan, accept_product


class CheckoutStation(PayingSteps):
    """One checkout station's state machine (several stations = several instances)."""

    # ------------------------------------------------------------------ public
    def start(self) -> list[StationAction]:
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

    def handle(self, event: CheckoutInput) -> list[StationAction]:
        """Process one input and return the actions to carry out, in order."""
        if not self._started:
            raise RuntimeError("CheckoutStation.start() must run first")
        out: list[StationAction] = []
        if self.session is not None and not isinstance(
            event, StationTick | Evidence | ConnectivityChanged | VisionStatus | ScaleStatus
        ):
            self.session.last_activity = self.clock.monotonic()
        if isinstance(event, MemberCodeScanned):
            self._on_member(event.text.strip(), out)
        elif isinstance(event, WeightSettled):
            self._on_weight(event, out)
        elif isinstance(event, Evidence):
            self._on_evidence(event, out)
        elif isinstance(event, ShopperChose):
            self._on_choice(event, out)
        elif isinstance(event, ItemScanned):
            self._on_code(event.barcode.strip(), out)
        elif isinstance(event, Pay):
            self._on_pay(out, event.source)
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

    # ------------------------------------------------------------------ codes
    def _on_code(self, code: str, out: list[StationAction]) -> None:
        """Route a scanned code: the station's pay or cancel code, a member code, or an item."""
        if code in self.config.pay_codes:
            self._on_pay(out, "scanner")
        elif code in self.config.cancel_codes:
            self._on_abandon(out)
        elif code.startswith(CODE_PREFIX):
            self._on_member(code, out)
        else:
            self._on_scan(code, out)

    def _on_member(self, text: str, out: list[StationAction]) -> None:
        if self._member_pays(text):
            self._on_pay(out, "member_code")
        else:
            self._on_member_code(text, out)

    # ------------------------------------------------------------------ member
    def _scale(self, online: bool, out: list[StationAction]) -> None:
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

    def _on_staff(self, event: StaffResolved, out: list[StationAction]) -> None:
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

    # ------------------------------------------------------------------ abandon and time
    def _on_abandon(self, out: list[StationAction]) -> None:
        if self.state is State.AUTHORIZING:
            out.append(ShowMessage(MESSAGES["pay_wait"]))
            return
        if self._can(SessionTrigger.ABANDON):
            self._abandon(out, "shopper")

    def _abandon(self, out: list[StationAction], reason: Literal["shopper", "timeout"]) -> None:
        s = self.session
        self._fire(SessionTrigger.ABANDON)
        self.session = None
        self._scan = None
        if s is not None:
            self.ledger.release(s.sale_id)
            self._on_scale.extend(i.weight_g for i in s.items)  # left on the platter
            self._basket_left()
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

    def _on_tick(self, out: list[StationAction]) -> None:
        mono = self.clock.monotonic()
        s = self.session
        if self._left_by is not None and mono >= self._left_by and s is None:
            self._platter_left(out)
            if self.state is State.IDLE:
                out.append(self._idle_screen())
        if self.state is State.RECEIPT:
            if mono >= self._receipt_until:
                self._fire(SessionTrigger.DONE)
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
