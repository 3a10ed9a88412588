"""What a checkout station is told: shopper, scale, camera, cloud and staff inputs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from edge_agent.domain.catalog import Catalog


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


PaySource = Literal["touch", "keypad", "scanner", "member_code"]


@dataclass(frozen=True)
class Pay:
    """The shopper confirmed payment: pressed Pay, a keypad key, or scanned the station's pay code."""

    source: PaySource = "touch"


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
class StationTick:
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
    | StationTick
)
