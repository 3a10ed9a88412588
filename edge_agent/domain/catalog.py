"""The checkout's own view of products and coupons (the adapter maps the synced snapshots to these).

A :class:`Product` is either counted (``unit_weight_g`` is the weight of one unit, priced per
unit) or sold by weight (loose produce: ``price_per_kg_cents``, any weight within a plausible
range). Scheduled price changes and promotions are applied on the store's own clock, so prices
stay right while the cloud is unreachable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from edge_agent.domain.barcodes import normalize_gtin


@dataclass(frozen=True)
class PriceChange:
    """A price that takes effect at ``effective_from`` (unix seconds)."""

    effective_from: float
    price_cents: int | None = None
    price_per_kg_cents: int | None = None


@dataclass(frozen=True)
class Product:
    """One sellable product as the checkout needs it.

    Attributes:
        id: product id (``SaleLine.product_id``).
        name: shown on the screen and the receipt.
        price_cents: price of one unit (counted products).
        barcodes: EAN-13 / UPC-A / EAN-8 codes of the product.
        unit_weight_g: expected weight of one unit; ``None`` means the product is not weighed
            (it can then only be accepted by a barcode, the shopper or staff, never by the model).
        weight_tolerance_g: accepted deviation of one unit; ``None`` uses the fusion defaults.
        sold_by_weight: loose produce priced by ``price_per_kg_cents``.
        min_weight_g / max_weight_g: plausible range of one placement of loose produce;
            ``None`` uses the fusion defaults.
        item_code: the item digits of the store's weight/price-embedded labels (PLU).
        model_labels: recogniser labels that mean this product (the id itself always does).
        scheduled: future price changes, applied when their time comes.
    """

    id: str
    name: str
    price_cents: int = 0
    barcodes: tuple[str, ...] = ()
    unit_weight_g: float | None = None
    weight_tolerance_g: float | None = None
    sold_by_weight: bool = False
    price_per_kg_cents: int | None = None
    min_weight_g: float | None = None
    max_weight_g: float | None = None
    item_code: str | None = None
    model_labels: tuple[str, ...] = ()
    scheduled: tuple[PriceChange, ...] = ()

    def unit_price_at(self, now: float) -> int:
        """Return the unit price in force at ``now``."""
        price = self.price_cents
        for change in sorted(self.scheduled, key=lambda c: c.effective_from):
            if change.effective_from <= now and change.price_cents is not None:
                price = change.price_cents
        return price

    def per_kg_at(self, now: float) -> int:
        """Return the price per kilogram in force at ``now`` (0 if the product has none)."""
        price = self.price_per_kg_cents or 0
        for change in sorted(self.scheduled, key=lambda c: c.effective_from):
            if change.effective_from <= now and change.price_per_kg_cents is not None:
                price = change.price_per_kg_cents
        return price

    def price_for_weight(self, grams: float, now: float) -> int:
        """Return the price of ``grams`` of this product, rounded half up to a cent."""
        return int(max(grams, 0.0) * self.per_kg_at(now) / 1000 + 0.5)


@dataclass(frozen=True)
class Promotion:
    """A price promotion on some products (synced from the cloud's catalog).

    Attributes:
        kind: ``percent`` (``value`` percent off a qualifying line, rounded down) or ``amount``
            (``value`` cents off a qualifying line).
        min_quantity: units a line needs to qualify (``2`` for "from 2 bought").
        valid_from / valid_until: unix seconds; ``valid_until`` ``None`` means open-ended.
    """

    id: str
    name: str
    product_ids: frozenset[str]
    kind: Literal["percent", "amount"]
    value: int
    min_quantity: int = 1
    valid_from: float = 0.0
    valid_until: float | None = None

    def discount_on(self, product_id: str, quantity: int, line_total_cents: int, now: float) -> int:
        """Return the cents this promotion takes off one line (0 when it does not apply)."""
        if product_id not in self.product_ids or quantity < self.min_quantity or now < self.valid_from:
            return 0
        if self.valid_until is not None and now >= self.valid_until:
            return 0
        off = line_total_cents * min(self.value, 100) // 100 if self.kind == "percent" else self.value
        return max(0, min(off, line_total_cents))


class Catalog:
    """Products indexed by id, barcode, embedded-label item code and recogniser label, and promotions."""

    def __init__(
        self, products: Iterable[Product] = (), *, version: int = 0, promotions: Iterable[Promotion] = ()
    ) -> None:
        """Index ``products``; a later product wins a duplicated barcode, code or label."""
        self.version = version
        self.promotions = tuple(promotions)
        self._by_id: dict[str, Product] = {}
        self._by_barcode: dict[str, Product] = {}
        self._by_item_code: dict[str, Product] = {}
        self._by_label: dict[str, Product] = {}
        for p in products:
            self._by_id[p.id] = p
            for code in p.barcodes:
                key = normalize_gtin(code)
                self._by_barcode[key or code.strip()] = p
            if p.item_code:
                self._by_item_code[_item_key(p.item_code)] = p
            self._by_label[p.id] = p
            for label in p.model_labels:
                self._by_label[label] = p

    def __len__(self) -> int:
        """Return the number of products."""
        return len(self._by_id)

    def __iter__(self) -> Iterator[Product]:
        """Iterate over the products."""
        return iter(self._by_id.values())

    def get(self, product_id: str) -> Product | None:
        """Return the product with this id."""
        return self._by_id.get(product_id)

    def by_barcode(self, gtin: str) -> Product | None:
        """Return the product of a normalised barcode."""
        return self._by_barcode.get(gtin)

    def by_item_code(self, item_code: str) -> Product | None:
        """Return the product of an embedded label's item code (leading zeros do not count: 04011 is 4011)."""
        return self._by_item_code.get(_item_key(item_code))

    def by_label(self, label: str) -> Product | None:
        """Return the product a recogniser label means."""
        return self._by_label.get(label)

    def promotion_discount(self, lines: Iterable[tuple[str, int, int]], now: float) -> tuple[int, tuple[str, ...]]:
        """Return the promotions' discount on ``(product_id, quantity, total_cents)`` lines, and their ids.

        Each line gets the single best promotion in force at ``now`` (promotions do not stack).
        """
        total = 0
        used: list[str] = []
        for product_id, quantity, line_total in lines:
            best, best_id = 0, ""
            for promo in self.promotions:
                off = promo.discount_on(product_id, quantity, line_total, now)
                if off > best or (off == best and off and promo.id < best_id):
                    best, best_id = off, promo.id
            if best:
                total += best
                if best_id not in used:
                    used.append(best_id)
        return total, tuple(used)


@dataclass(frozen=True)
class Coupon:
    """A coupon bound to one member, redeemable once.

    Attributes:
        kind: ``percent`` (``value`` percent off the subtotal) or ``amount`` (``value`` cents off).
        min_total_cents: the basket subtotal needed to use it.
        valid_from / valid_until: unix seconds; ``None`` means unbounded.
    """

    id: str
    member_id: str
    kind: Literal["percent", "amount"]
    value: int
    min_total_cents: int = 0
    valid_from: float | None = None
    valid_until: float | None = None

    def valid_at(self, now: float) -> bool:
        """Return whether the coupon is within its validity at ``now``."""
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.valid_until is None or now < self.valid_until

    def discount_on(self, subtotal_cents: int) -> int:
        """Return the cents this coupon takes off ``subtotal_cents`` (percent rounds down, never above it)."""
        if self.kind == "percent":
            off = subtotal_cents * min(max(self.value, 0), 100) // 100
        else:
            off = max(self.value, 0)
        return min(off, subtotal_cents)


def index_coupons(coupons: Iterable[Coupon]) -> Mapping[str, tuple[Coupon, ...]]:
    """Group coupons by member id."""
    out: dict[str, list[Coupon]] = {}
    for c in coupons:
        out.setdefault(c.member_id, []).append(c)
    return {k: tuple(v) for k, v in out.items()}


def _item_key(code: str) -> str:
    return code.strip().lstrip("0") or "0"
