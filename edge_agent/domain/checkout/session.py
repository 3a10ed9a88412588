"""The checkout session: its states, the transition table, and the basket it holds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from contracts.messages import SaleLine
from edge_agent.domain.catalog import Product
from edge_agent.domain.checkout.inputs import PaySource, WeightSettled
from edge_agent.domain.fusion import Accept
from edge_agent.domain.payment import Totals

MAX_SALE_CENTS = 100_000_000  # the contract's Cents bound


class State(StrEnum):
    """Where the station's session is."""

    IDLE = "idle"
    SHOPPING = "shopping"
    PAYMENT = "payment"  # totals shown; paying offline, refused or declined: retry or abandon
    AUTHORIZING = "authorizing"  # waiting for the cloud's answer
    RECEIPT = "receipt"


class SessionTrigger(StrEnum):
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
TRANSITIONS: dict[tuple[State, SessionTrigger], State] = {
    (State.IDLE, SessionTrigger.IDENTIFIED): State.SHOPPING,
    (State.RECEIPT, SessionTrigger.IDENTIFIED): State.SHOPPING,
    (State.SHOPPING, SessionTrigger.PAY): State.PAYMENT,
    (State.PAYMENT, SessionTrigger.PAY): State.PAYMENT,
    (State.PAYMENT, SessionTrigger.REQUEST): State.AUTHORIZING,
    (State.PAYMENT, SessionTrigger.PAID): State.RECEIPT,
    (State.PAYMENT, SessionTrigger.EDIT): State.SHOPPING,
    (State.AUTHORIZING, SessionTrigger.PAID): State.RECEIPT,
    (State.AUTHORIZING, SessionTrigger.DECLINED): State.PAYMENT,
    (State.AUTHORIZING, SessionTrigger.FALLBACK): State.PAYMENT,
    (State.SHOPPING, SessionTrigger.ABANDON): State.IDLE,
    (State.PAYMENT, SessionTrigger.ABANDON): State.IDLE,
    (State.RECEIPT, SessionTrigger.DONE): State.IDLE,
}

# Declines after which nothing was charged and the offline rule may be used.
OFFLINE_FALLBACK_REASONS = frozenset({"expired"})


def next_session_state(state: State, trigger: SessionTrigger) -> State:
    """Return the state ``trigger`` moves ``state`` to; an illegal pair raises ``RuntimeError``."""
    new = TRANSITIONS.get((state, trigger))
    if new is None:
        raise RuntimeError(f"illegal checkout transition {state.value} --{trigger.value}-->")
    return new


ItemStatus = Literal["evidence", "ask", "scan", "review", "accepted"]


@dataclass
class Item:
    """One item placed on the scale during a session."""

    seq: int
    weight_g: float
    status: ItemStatus
    placed_at: float
    accept: Accept | None = None
    choices: tuple[Product, ...] = ()
    reason: str = ""
    scanned: tuple[str, ...] = ()


@dataclass
class PendingRequest:
    """The payment request a session waits on."""

    request_id: uuid.UUID
    totals: Totals
    deadline: float
    next_retry: float
    expires_at: datetime


@dataclass
class Session:
    """One shopper's basket, from their member code to the receipt."""

    member_id: str
    sale_id: uuid.UUID
    last_activity: float
    items: list[Item] = field(default_factory=list)
    removals: list[float] = field(default_factory=list)  # unexplained removals (grams), each a hold
    request: PendingRequest | None = None
    deferred: list[WeightSettled] = field(default_factory=list)  # weight changes while authorizing
    code_text: str = ""  # the member code that opened the session (presented again, it pays)
    pay_source: PaySource = "touch"  # what confirmed the payment

    def holds(self) -> list[str]:
        """Return what holds the session for staff."""
        out = [f"item {i.seq} ({i.weight_g:g} g): {i.reason}" for i in self.items if i.status == "review"]
        out += [f"removal of {g:g} g" for g in self.removals]
        return out

    def accepted(self) -> list[Accept]:
        """Return the accepted items."""
        return [i.accept for i in self.items if i.status == "accepted" and i.accept is not None]

    def pending(self) -> list[Item]:
        """Return the items not accepted yet."""
        return [i for i in self.items if i.status != "accepted"]


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
