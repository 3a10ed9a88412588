"""Decide what a shopper put on the checkout scale from the weight, barcodes and the recogniser.

:func:`decide` is a pure function: the same weight, evidence, catalog and configuration always
give the same :data:`ItemDecision`. The station calls it once per placed item (and again when late
evidence arrives); tests and the benchmark call it directly to count how many items are
auto-accepted, asked, sent to a scan or to staff, and how many were accepted wrongly.

Weight agreement (:func:`weight_check`), for a placement that weighed ``g`` grams:

* counted product with unit weight ``w`` and unit tolerance ``t``: ``n`` units agree when
  ``|g - n*w| <= sqrt(n)*t + scale_noise_g`` for some ``1 <= n <= max_units`` (unit deviations
  are independent, so they grow with the square root of the count; the scale's own noise is
  added once). ``t`` is the product's ``weight_tolerance_g``, or
  ``max(tolerance_g, tolerance_rel*w)`` when the catalog gives none;
* loose produce (``sold_by_weight``): any ``g`` in ``[min_weight_g, max_weight_g]`` (product
  values, else ``loose_min_g``/``loose_max_g``) agrees; the price is ``g * price_per_kg / 1000``;
* a product with neither a unit weight nor a per-kg price is *unweighed*: the scale cannot
  confirm it. Only a barcode, the shopper or staff can then name it, never the model alone.

The rule, first match wins:

1. **Barcodes** (the serial scanner's, then the camera's): a code names a product; the product
   is accepted only if the weight agrees. A weight/price-embedded label (``barcodes.py``) is
   accepted with its printed weight or price when the scale agrees with that weight within
   ``max(label_tolerance_g, label_tolerance_rel*W) + scale_noise_g``. A code whose weight
   disagrees is not trusted for this placement (the camera also sees items already on the
   scale), and the decision goes on with the model. Two different barcode products that both
   agree → ask the shopper.
2. **Degraded**: camera down, or the model missing → :class:`NeedScan`.
3. **Model auto-accept**: the model's top-1 label maps to a product, its score is at least
   ``auto_accept_threshold`` (the model card's calibrated threshold), the weight agrees (and is
   checkable), and no other top-``k`` candidate is a *rival*: a rival is another product whose
   weight also agrees, or a label the catalog does not know (it cannot be ruled out), with a
   score within ``ambiguity_margin`` of the top-1.
4. **Ask**: the top-``k`` candidates whose weight agrees (or cannot be checked), up to
   ``max_choices``, best score first.
5. **Review**: nothing fits → possible unscanned or mislabelled item; the station holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from edge_agent.domain.barcodes import BarcodeScheme, EmbeddedCode
from edge_agent.domain.catalog import Catalog, Product

Source = Literal["scanner", "barcode", "embedded", "model", "shopper", "staff"]


@dataclass(frozen=True)
class FusionConfig:
    """Thresholds of the decision rule (see the module docstring and docs/checkout.md).

    Attributes:
        auto_accept_threshold: minimum top-1 score to accept without asking; use the model
            card's ``auto_accept_threshold`` (``ProductRecognizer.auto_accept_threshold``).
        ambiguity_margin: a weight-fitting candidate scoring within this of the top-1 blocks
            the auto-accept.
        top_k: how many predictions are considered.
        max_choices: how many products the shopper is asked to choose from.
        tolerance_g / tolerance_rel: default unit tolerance ``max(tolerance_g, tolerance_rel*w)``.
        scale_noise_g: added once to every tolerance (scale resolution and settling noise).
        max_units: most units of one product accepted from one placement.
        loose_min_g / loose_max_g: default plausible range of one placement of loose produce.
        label_tolerance_g / label_tolerance_rel: scale vs. printed weight of an embedded label.
        scheme: the store's weight/price-embedded barcode layouts.
    """

    auto_accept_threshold: float
    ambiguity_margin: float = 0.5
    top_k: int = 3
    max_choices: int = 3
    tolerance_g: float = 8.0
    tolerance_rel: float = 0.05
    scale_noise_g: float = 2.0
    max_units: int = 1
    loose_min_g: float = 10.0
    loose_max_g: float = 5000.0
    label_tolerance_g: float = 10.0
    label_tolerance_rel: float = 0.03
    scheme: BarcodeScheme = field(default_factory=BarcodeScheme)


@dataclass(frozen=True)
class VisionEvidence:
    """What the camera adapters found for one placement."""

    barcodes: tuple[str, ...] = ()
    predictions: tuple[tuple[str, float], ...] = ()
    camera_ok: bool = True
    model_ok: bool = True


@dataclass(frozen=True)
class Accept:
    """Add ``quantity`` of ``product`` for ``price_cents`` (the line total)."""

    product: Product
    quantity: int
    weight_g: float
    price_cents: int
    source: Source
    score: float | None = None
    code: str | None = None

    @property
    def unit_price_cents(self) -> int:
        """Return the price of one unit (the line total for a weighed line)."""
        return self.price_cents // max(self.quantity, 1)


@dataclass(frozen=True)
class Ask:
    """Let the shopper pick one of ``choices`` (or scan the item)."""

    choices: tuple[Product, ...]
    reason: str = ""


@dataclass(frozen=True)
class NeedScan:
    """Ask the shopper to scan the item's barcode (camera down, model missing, nothing known)."""

    reason: str = ""


@dataclass(frozen=True)
class Review:
    """Nothing explains the weight: call staff and hold the session."""

    reason: str = ""


ItemDecision = Accept | Ask | NeedScan | Review


@dataclass(frozen=True)
class Fit:
    """How a product agrees with a weight; ``checked`` is False for unweighed products."""

    quantity: int
    weight_g: float
    price_cents: int
    checked: bool = True


def unit_tolerance(product: Product, config: FusionConfig) -> float:
    """Return the accepted deviation of one unit of ``product``."""
    if product.weight_tolerance_g is not None:
        return product.weight_tolerance_g
    return max(config.tolerance_g, config.tolerance_rel * (product.unit_weight_g or 0.0))


def allowed_deviation(product: Product, quantity: int, config: FusionConfig) -> float:
    """Return how far ``quantity`` units may weigh from ``quantity * unit_weight_g``."""
    return math.sqrt(quantity) * unit_tolerance(product, config) + config.scale_noise_g


def loose_range(product: Product, config: FusionConfig) -> tuple[float, float]:
    """Return the plausible weight range of one placement of loose produce."""
    low = product.min_weight_g if product.min_weight_g is not None else config.loose_min_g
    high = product.max_weight_g if product.max_weight_g is not None else config.loose_max_g
    return low, high


def weight_check(product: Product, grams: float, config: FusionConfig, now: float) -> Fit | None:
    """Return how ``product`` explains ``grams``, or ``None`` when the weight disagrees."""
    if product.sold_by_weight:
        low, high = loose_range(product, config)
        if not low <= grams <= high:
            return None
        return Fit(1, grams, product.price_for_weight(grams, now))
    unit = product.unit_weight_g
    if unit is None or unit <= 0:
        return Fit(1, grams, product.unit_price_at(now), checked=False)
    best: tuple[float, int] | None = None
    for n in range(1, max(config.max_units, 1) + 1):
        off = abs(grams - n * unit)
        if off <= allowed_deviation(product, n, config) and (best is None or off < best[0]):
            best = (off, n)
    if best is None:
        return None
    n = best[1]
    return Fit(n, grams, n * product.unit_price_at(now))


def label_agrees(label_g: float, grams: float, config: FusionConfig) -> bool:
    """Return whether the scale agrees with a weight printed on an embedded label."""
    tol = max(config.label_tolerance_g, config.label_tolerance_rel * label_g) + config.scale_noise_g
    return abs(grams - label_g) <= tol


def removal_agrees(placed_g: float, removed_g: float, config: FusionConfig) -> bool:
    """Return whether removing ``removed_g`` grams takes off an item that weighed ``placed_g`` when placed."""
    tol = max(config.tolerance_g, config.tolerance_rel * placed_g) + 2 * config.scale_noise_g
    return abs(removed_g - placed_g) <= tol


def from_barcode(
    code: str, source: Source, grams: float, catalog: Catalog, config: FusionConfig, now: float
) -> Accept | str:
    """Return the accepted item a barcode names, or why it cannot be accepted for this weight."""
    decoded = config.scheme.decode(code)
    if decoded is None:
        return f"barcode {code} is not valid"
    if isinstance(decoded, EmbeddedCode):
        product = catalog.by_item_code(decoded.item_code)
        if product is None:
            return f"label item {decoded.item_code} is not in the catalog"
        if decoded.weight_g is not None:
            if not label_agrees(decoded.weight_g, grams, config):
                return f"{product.name}: label says {decoded.weight_g:g} g, scale {grams:g} g"
            if product.per_kg_at(now):
                price = product.price_for_weight(decoded.weight_g, now)
            else:
                price = product.unit_price_at(now)
            return Accept(product, 1, decoded.weight_g, price, "embedded", code=decoded.gtin)
        price_cents = decoded.price_cents or 0
        per_kg = product.per_kg_at(now)
        if product.sold_by_weight and per_kg > 0:
            expected = price_cents * 1000 / per_kg
            if not label_agrees(expected, grams, config):
                return f"{product.name}: label price means {expected:.0f} g, scale {grams:g} g"
        elif weight_check(product, grams, config, now) is None:
            return f"{product.name}: weight {grams:g} g disagrees with the label"
        return Accept(product, 1, grams, price_cents, "embedded", code=decoded.gtin)
    product = catalog.by_barcode(decoded.gtin)
    if product is None:
        return f"barcode {decoded.gtin} is not in the catalog"
    fit = weight_check(product, grams, config, now)
    if fit is None:
        return f"{product.name}: expected {_expected_text(product, config)}, scale {grams:g} g"
    return Accept(product, fit.quantity, fit.weight_g, fit.price_cents, source, code=decoded.gtin)


def _expected_text(product: Product, config: FusionConfig) -> str:
    if product.sold_by_weight:
        low, high = loose_range(product, config)
        return f"{low:g}-{high:g} g"
    return f"{product.unit_weight_g:g}±{allowed_deviation(product, 1, config):g} g"


@dataclass(frozen=True)
class _Candidate:
    product: Product | None  # None: a label the catalog does not know
    score: float
    fit: Fit | None


def _candidates(
    predictions: Sequence[tuple[str, float]], grams: float, catalog: Catalog, config: FusionConfig, now: float
) -> list[_Candidate]:
    """Return the top-k predictions as products (labels of one product add up), best first."""
    ranked = sorted(predictions, key=lambda p: -p[1])[: max(config.top_k, 1)]
    scores: dict[str, float] = {}
    products: dict[str, Product | None] = {}
    for label, score in ranked:
        product = catalog.by_label(label)
        key = product.id if product is not None else f"?{label}"
        scores[key] = scores.get(key, 0.0) + max(float(score), 0.0)
        products[key] = product
    out = []
    for key, score in sorted(scores.items(), key=lambda kv: -kv[1]):
        product = products[key]
        fit = weight_check(product, grams, config, now) if product is not None else None
        out.append(_Candidate(product, score, fit))
    return out


def decide(
    grams: float,
    evidence: VisionEvidence,
    catalog: Catalog,
    config: FusionConfig,
    *,
    now: float,
    scanned: Sequence[str] = (),
) -> ItemDecision:
    """Decide what weighs ``grams``, given the camera evidence and barcodes the shopper scanned."""
    hits: dict[str, Accept] = {}
    misses: list[str] = []
    coded: list[tuple[str, Source]] = [(c, "scanner") for c in scanned]
    coded += [(c, "barcode") for c in evidence.barcodes]
    for code, source in coded:
        result = from_barcode(code, source, grams, catalog, config, now)
        if isinstance(result, Accept):
            hits.setdefault(result.product.id, result)
        else:
            misses.append(result)
    if len(hits) == 1:
        return next(iter(hits.values()))
    if len(hits) > 1:
        return Ask(tuple(a.product for a in hits.values())[: config.max_choices], "several barcodes fit the weight")
    if not evidence.camera_ok:
        return NeedScan("camera unavailable")
    if not evidence.model_ok:
        return NeedScan("recognition model unavailable")
    candidates = _candidates(evidence.predictions, grams, catalog, config, now)
    if candidates:
        top = candidates[0]
        if (
            top.product is not None
            and top.fit is not None
            and top.fit.checked
            and top.score >= config.auto_accept_threshold
            and not any(
                (c.product is None or c.fit is not None) and top.score - c.score < config.ambiguity_margin
                for c in candidates[1:]
            )
        ):
            return Accept(top.product, top.fit.quantity, top.fit.weight_g, top.fit.price_cents, "model", top.score)
    fitting = tuple(c.product for c in candidates if c.product is not None and c.fit is not None)
    if fitting:
        return Ask(fitting[: config.max_choices], "not sure which product this is")
    if misses:
        return Review("; ".join(misses))
    if not candidates:
        return Review(f"nothing recognised for {grams:g} g")
    return Review(f"no recognised product weighs {grams:g} g")


def accept_product(
    product: Product, grams: float, source: Source, config: FusionConfig, now: float, *, force: bool = False
) -> Accept | None:
    """Accept ``product`` for a placement chosen by the shopper or staff; ``force`` skips the weight check."""
    fit = weight_check(product, grams, config, now)
    if fit is None:
        if not force:
            return None
        if product.sold_by_weight:
            return Accept(product, 1, grams, product.price_for_weight(grams, now), source)
        return Accept(product, 1, grams, product.unit_price_at(now), source)
    return Accept(product, fit.quantity, fit.weight_g, fit.price_cents, source)
