"""Paying: totals, online authorisation with its offline fallback, and the completed sale."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from contracts.messages import AlarmKind, SaleCompleted
from edge_agent.domain.actions import Emit
from edge_agent.domain.checkout.inputs import AuthorizationResult, PaySource
from edge_agent.domain.checkout.outputs import MESSAGES, RequestAuthorization, ShowMessage, ShowReceipt, StationAction
from edge_agent.domain.checkout.session import (
    MAX_SALE_CENTS,
    OFFLINE_FALLBACK_REASONS,
    PendingRequest,
    Session,
    SessionTrigger,
    State,
    sale_lines,
)
from edge_agent.domain.checkout.weighing import WeighingSteps
from edge_agent.domain.payment import Totals


class PayingSteps(WeighingSteps):
    """The part of the station's state machine that takes the payment."""

    def _on_pay(self, out: list[StationAction], source: PaySource = "touch") -> None:
        s = self.session
        if s is None or not self._can(SessionTrigger.PAY):
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
        self._fire(SessionTrigger.PAY)
        s.pay_source = source
        if not self.online:
            self._pay_offline(s, totals, out, "offline")
            return
        expires = datetime.fromtimestamp(now + self.config.auth_timeout_s, UTC)
        request = PendingRequest(
            self.new_id(), totals, mono + self.config.auth_timeout_s, mono + self.config.auth_retry_s, expires
        )
        s.request = request
        self._fire(SessionTrigger.REQUEST)
        out.append(self._authorization(s, request))
        out.append(ShowMessage(MESSAGES["paying"]))

    def _authorization(self, s: Session, r: PendingRequest) -> RequestAuthorization:
        return RequestAuthorization(
            r.request_id, s.member_id, r.totals.total_cents, r.totals.coupon_ids, s.sale_id, r.expires_at
        )

    def _pay_offline(self, s: Session, totals: Totals, out: list[StationAction], why: str) -> None:
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

    def _on_auth_result(self, event: AuthorizationResult, out: list[StationAction]) -> None:
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
        self._fire(SessionTrigger.DECLINED)
        self.ledger.release(s.sale_id)
        if event.reason == "coupon_unavailable":
            self.ledger.mark_redeemed(request.totals.coupon_ids)
        out.append(ShowMessage(f"Payment declined: {(event.reason or 'declined').replace('_', ' ')}"))
        self._replay_deferred(out)

    def _fallback(self, s: Session, request: PendingRequest, out: list[StationAction], why: str) -> None:
        self._fire(SessionTrigger.FALLBACK)
        if s.deferred:
            self._replay_deferred(out)  # the basket changed while waiting: back to shopping, pay again
            return
        self._pay_offline(s, request.totals, out, why)

    def _replay_deferred(self, out: list[StationAction]) -> None:
        s = self.session
        if s is None:
            return
        deferred, s.deferred = s.deferred, []
        for w in deferred:
            self._on_weight(w, out)

    def _complete(
        self,
        s: Session,
        totals: Totals,
        mode: Literal["online", "offline"],
        auth_id: str | None,
        out: list[StationAction],
    ) -> None:
        self._fire(SessionTrigger.PAID)
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
        self.paid_by[s.pay_source] += 1
        self._on_scale.extend(i.weight_g for i in s.items)  # paid items still on the platter
        self._receipt_until = self.clock.monotonic() + self.config.receipt_s
        out.append(Emit(sale))
        out.append(
            ShowReceipt(s.sale_id, lines, totals.subtotal_cents, totals.discount_cents, totals.total_cents, mode)
        )
        deferred = s.deferred
        self.session = None
        self._basket_left()
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


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
