"""What a checkout station asks for: evidence, payment authorisation and screen output."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from contracts.messages import SaleLine
from edge_agent.domain.actions import Emit, Feedback
from edge_agent.domain.catalog import Product

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
    "clear_scale": "Take everything off the scale, then scan your code",
}


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
class ZeroScale:
    """Zero the station's scale (the platter is empty but reads a little drift)."""

    grams: float


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


StationAction = (
    RequestEvidence
    | RequestAuthorization
    | ShowBasket
    | AskShopper
    | ShowMessage
    | ShowReceipt
    | ZeroScale
    | Emit
    | Feedback
)
