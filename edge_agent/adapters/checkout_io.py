"""Checkout adapters: render station actions on a screen, ask the cloud to authorise payments,
and turn scale and touch events into station inputs.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from decimal import Decimal
from typing import Protocol

from contracts.errors import ContractError
from contracts.messages import SaleLine, dump
from contracts.payments import PaymentReply, PaymentRequest, parse_payment_reply, pay_request_topic
from contracts.sync import CatalogProduct
from contracts.sync import Coupon as SyncedCoupon
from contracts.sync import Promotion as SyncedPromotion
from devices.escpos.driver import EscposDriver
from devices.nextion.driver import NextionDriver
from devices.nextion.protocol import Touch
from devices.scales.base import ScaleDriver
from devices.scales.settle import WeightStable
from devices.screen import BasketLine, BasketView
from edge_agent.adapters.vision import EvidenceProvider
from edge_agent.domain.actions import Feedback
from edge_agent.domain.catalog import Coupon, PriceChange, Product, Promotion
from edge_agent.domain.checkout import (
    AskShopper,
    AuthorizationResult,
    CheckoutInput,
    Evidence,
    Pay,
    RequestAuthorization,
    RequestEvidence,
    ShopperChose,
    ShowBasket,
    ShowMessage,
    ShowReceipt,
    WeightSettled,
    ZeroScale,
)
from edge_agent.domain.ports import MessagePublisher

log = logging.getLogger(__name__)

ScreenAction = ShowBasket | AskShopper | ShowMessage | ShowReceipt | Feedback
Submit = Callable[[CheckoutInput], None]


def _view(lines: tuple[SaleLine, ...], total_cents: int) -> BasketView:
    return BasketView(
        tuple(
            BasketLine(line.name or line.product_id, Decimal(line.total_cents) / 100, line.quantity) for line in lines
        ),
        Decimal(total_cents) / 100,
    )


def _money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


class Screen(Protocol):
    """A customer-facing screen of one station."""

    def render(self, action: ScreenAction) -> None:
        """Show what the station asked for."""
        ...


class NextionScreen:
    """A Nextion touch display: basket, three-choice question (touch answers), messages.

    The HMI's basket page has a Pay button at component ``t4``; touching it pays.
    """

    PAY_BUTTON = "t4"

    def __init__(self, driver: NextionDriver, submit: Submit) -> None:
        """Render on ``driver``; a touched choice is submitted as ``ShopperChose``, Pay as ``Pay``."""
        self.driver = driver
        self.submit = submit
        self._choices: tuple[str, ...] = ()
        driver.on_choice = self._on_choice
        driver.on_touch = self._on_touch
        basket = driver.layout.basket
        self._pay = (basket.page_id, basket.component_id(self.PAY_BUTTON))

    def _on_touch(self, touch: Touch) -> None:
        if touch.pressed and (touch.page, touch.component) == self._pay:
            self.submit(Pay())

    def render(self, action: ScreenAction) -> None:
        """Draw the action (the driver redraws it after a reconnect)."""
        if isinstance(action, ShowBasket):
            self.driver.show_basket(_view(action.lines, action.total_cents))
        elif isinstance(action, AskShopper):
            self._choices = tuple(p.id for p in action.choices)
            self.driver.show_choices([p.name for p in action.choices], title=action.prompt)
        elif isinstance(action, ShowReceipt):
            self.driver.show_message(f"Paid {_money(action.total_cents)}", "Thank you! Receipt sent")
        elif isinstance(action, Feedback):
            self.driver.show_message(action.message)
        else:
            self.driver.show_message(action.text)

    def _on_choice(self, index: int, name: str) -> None:
        if index < len(self._choices):
            self.submit(ShopperChose(self._choices[index]))


class PoleScreen:
    """A 2x20 ESC/POS pole display (no touch: the shopper answers by scanning the item)."""

    def __init__(self, driver: EscposDriver) -> None:
        """Render on ``driver``."""
        self.driver = driver

    def render(self, action: ScreenAction) -> None:
        """Draw the action in two lines of 20 characters."""
        if isinstance(action, ShowBasket):
            self.driver.show_basket(_view(action.lines, action.total_cents))
        elif isinstance(action, AskShopper):
            names = " / ".join(p.name for p in action.choices)
            self.driver.show_lines("Scan this item:", names[:20])
        elif isinstance(action, ShowReceipt):
            self.driver.show_lines("Paid - thank you!", f"TOTAL {_money(action.total_cents)}")
        elif isinstance(action, Feedback):
            self.driver.show_lines(action.message[:20], action.message[20:40])
        else:
            self.driver.show_lines(action.text[:20], action.text[20:40])


class RecordingScreen:
    """A screen that keeps what it was asked to show (benchmarks, tests without a display)."""

    def __init__(self, on_render: Callable[[ScreenAction], None] | None = None) -> None:
        """Optionally call ``on_render`` for every action."""
        self.shown: list[ScreenAction] = []
        self.on_render = on_render or (lambda action: None)

    def render(self, action: ScreenAction) -> None:
        """Record the action."""
        self.shown.append(action)
        self.on_render(action)


class CheckoutIO:
    """Carry out the station actions that need the outside world."""

    def __init__(
        self,
        screens: dict[str, Screen],
        payments: Payments,
        submit: Callable[[str, CheckoutInput], None],
        evidence: EvidenceProvider | None = None,
        *,
        scales: Mapping[str, ScaleDriver] | None = None,
    ) -> None:
        """Use one screen per station, the payments link, (if there is a camera) evidence and the scales."""
        self.screens = screens
        self.payments = payments
        self.submit = submit
        self.evidence = evidence
        self.scales = dict(scales or {})

    def execute(self, station_id: str, action: object) -> None:
        """Run one action of station ``station_id``."""
        if isinstance(action, RequestEvidence):
            if self.evidence is None:
                self.submit(station_id, Evidence(action.item_seq, camera_ok=False, model_ok=False))
            else:
                self.evidence.request(station_id, action)
        elif isinstance(action, RequestAuthorization):
            self.payments.request(station_id, action)
        elif isinstance(action, ZeroScale):
            self._zero(station_id, action.grams)
        elif isinstance(action, (ShowBasket, AskShopper, ShowMessage, ShowReceipt, Feedback)):
            screen = self.screens.get(station_id)
            if screen is not None:
                try:
                    screen.render(action)
                except Exception:  # a screen fault must never stop a checkout
                    log.exception("screen of %s failed", station_id)

    def _zero(self, station_id: str, grams: float) -> None:
        scale = self.scales.get(station_id)
        if scale is None:
            return
        log.info("%s: zeroing %g g of drift on the empty platter", station_id, grams)
        scale.zero().add_done_callback(lambda f: _zeroed(station_id, grams, f))


def _zeroed(station_id: str, grams: float, done: Future[bool]) -> None:
    if not done.result():  # out of the scale's zero range, or in motion: the station tries again later
        log.warning("%s: the scale refused to zero %g g", station_id, grams)


class Payments:
    """Online authorisation over MQTT; replies find their station by ``request_id``."""

    def __init__(
        self, store_id: str, publisher: MessagePublisher | None, submit: Callable[[str, CheckoutInput], None]
    ) -> None:
        """Publish requests through ``publisher``; deliver replies with ``submit(station_id, input)``."""
        self.store_id = store_id
        self.publisher = publisher
        self.submit = submit
        self._pending: dict[uuid.UUID, str] = {}
        self._lock = threading.Lock()

    def request(self, station_id: str, action: RequestAuthorization) -> None:
        """Send (or re-send: same request id) a payment request."""
        with self._lock:
            self._pending[action.request_id] = station_id
        if self.publisher is None:
            return  # no cloud link: the station falls back to its offline rule on timeout
        request = PaymentRequest(
            request_id=action.request_id,
            store_id=self.store_id,
            member_id=action.member_id,
            amount_cents=action.amount_cents,
            coupon_ids=list(action.coupon_ids),
            sale_id=action.sale_id,
            expires_at=action.expires_at,
        )
        self.publisher.publish_message(pay_request_topic(self.store_id), dump(request))

    def on_reply(self, topic: str, payload: bytes, retained: bool) -> None:
        """Route a ``PaymentReply`` to the station that asked (paho thread)."""
        try:
            reply: PaymentReply = parse_payment_reply(payload)
        except ContractError as err:
            log.warning("ignored payment reply: %s", err)
            return
        with self._lock:
            station = self._pending.pop(reply.request_id, None)
        if station is None:
            return  # not ours, or a duplicate of a reply already delivered
        self.submit(
            station,
            AuthorizationResult(
                reply.request_id,
                approved=reply.status == "approved",
                authorization_id=reply.authorization_id,
                reason=reply.reason,
                error=reply.status == "error",
            ),
        )


class WeightTracker:
    """Turn settled weights into ``WeightSettled`` inputs with the change since the last one."""

    def __init__(self, submit: Submit) -> None:
        """Submit each settled weight with its delta."""
        self.submit = submit
        self._last: float | None = None

    def __call__(self, weight: WeightStable) -> None:
        """Handle one settled weight from the scale driver."""
        grams = float(weight.grams)
        previous, self._last = self._last, grams
        self.submit(WeightSettled(grams, grams - (previous if previous is not None else 0.0)))


def product_from_sync(p: CatalogProduct) -> Product:
    """Map a synced catalog product to the checkout's view of it."""
    return Product(
        id=p.id,
        name=p.name,
        price_cents=p.price_cents or 0,
        barcodes=tuple(p.barcodes),
        unit_weight_g=p.unit_weight_g,
        weight_tolerance_g=p.weight_tolerance_g,
        sold_by_weight=p.sold_by_weight,
        price_per_kg_cents=p.price_per_kg_cents,
        item_code=p.item_code,
        scheduled=tuple(
            PriceChange(s.effective_from.timestamp(), s.price_cents, s.price_per_kg_cents) for s in p.scheduled_prices
        ),
    )


def promotion_from_sync(p: SyncedPromotion) -> Promotion:
    """Map a synced promotion to the checkout's view of it."""
    return Promotion(
        id=p.id,
        name=p.name,
        product_ids=frozenset(p.product_ids),
        kind=p.kind,
        value=p.value,
        min_quantity=p.min_quantity,
        valid_from=p.effective_from.timestamp(),
        valid_until=p.effective_until.timestamp() if p.effective_until else None,
    )


def coupon_from_sync(c: SyncedCoupon) -> Coupon:
    """Map a synced coupon to the checkout's view of it."""
    return Coupon(
        id=c.id,
        member_id=c.member_id,
        kind=c.kind,
        value=c.value,
        min_total_cents=c.min_total_cents,
        valid_from=c.valid_from.timestamp(),
        valid_until=c.valid_until.timestamp() if c.valid_until else None,
    )
