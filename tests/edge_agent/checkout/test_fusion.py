"""Fusion: every branch of the decision rule, plus a property that weight disagreement never auto-accepts."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.domain.catalog import Catalog, Product
from edge_agent.domain.fusion import (
    Accept,
    Ask,
    FusionConfig,
    NeedScan,
    Review,
    VisionEvidence,
    decide,
    weight_check,
)
from tests.edge_agent.checkout.kit import APPLE, CHEESE, CHIPS, COLA, COLA_EAN, HAM, OAT, SOY, catalog, fusion_config

NOW = 1_790_000_000.0
CFG = fusion_config()
CAT = catalog()


def run(grams: float, cfg: FusionConfig = CFG, cat: Catalog = CAT, scanned: tuple[str, ...] = (), **kw: object):  # type: ignore[no-untyped-def]
    return decide(grams, VisionEvidence(**kw), cat, cfg, now=NOW, scanned=scanned)  # type: ignore[arg-type]


def test_barcode_with_agreeing_weight_is_accepted() -> None:
    d = run(333, barcodes=(COLA_EAN,))
    assert d == Accept(COLA, 1, 333, 150, "barcode", code=COLA_EAN)


def test_barcode_whose_weight_disagrees_goes_to_review_when_nothing_else_fits() -> None:
    d = run(700, barcodes=(COLA_EAN,))
    assert isinstance(d, Review)
    assert "Cola" in d.reason


def test_barcode_weight_disagrees_but_model_candidate_fits_asks() -> None:
    d = run(151, barcodes=(COLA_EAN,), predictions=(("Chips", 0.5), ("Cola", 0.4)))
    assert d == Ask((CHIPS,), "not sure which product this is")


def test_old_items_barcode_in_view_does_not_hide_the_new_item() -> None:
    d = run(150, barcodes=(COLA_EAN,), predictions=(("Chips", 0.95),))
    assert isinstance(d, Accept)
    assert (d.product, d.source) == (CHIPS, "model")


def test_scanner_barcode_works_with_camera_down() -> None:
    d = run(329, scanned=(COLA_EAN,), camera_ok=False, model_ok=False)
    assert isinstance(d, Accept)
    assert (d.product, d.source) == (COLA, "scanner")


def test_two_fitting_barcode_products_ask() -> None:
    cat = Catalog([COLA, Product("cola2", "Cola light", 150, barcodes=("96385074",), unit_weight_g=332)])
    d = run(331, cat=cat, barcodes=(COLA_EAN, "96385074"))
    assert isinstance(d, Ask)
    assert {p.id for p in d.choices} == {"cola", "cola2"}


def test_weight_embedded_label_accepts_with_printed_weight_and_price() -> None:
    d = run(1236, barcodes=("2112345012346",))  # cheese label 1.234 kg, 20.00 per kg
    assert d == Accept(CHEESE, 1, 1234.0, 2468, "embedded", code="2112345012346")


def test_weight_embedded_label_refused_when_scale_disagrees() -> None:
    d = run(1400, barcodes=("2112345012346",))
    assert isinstance(d, Review)
    assert "label says 1234 g" in d.reason


def test_price_embedded_label_accepts_with_printed_price() -> None:
    d = run(201, barcodes=("2254321004508",))
    assert d == Accept(HAM, 1, 201, 450, "embedded", code="2254321004508")


def test_model_top1_over_threshold_with_agreeing_weight_auto_accepts() -> None:
    d = run(152, predictions=(("Chips", 0.93), ("Cola", 0.05)))
    assert d == Accept(CHIPS, 1, 152, 200, "model", 0.93)


def test_model_just_below_threshold_asks() -> None:
    d = run(152, predictions=(("Chips", 0.79),))
    assert d == Ask((CHIPS,), "not sure which product this is")


def test_model_confident_but_weight_disagrees_is_review() -> None:
    d = run(330, predictions=(("Chips", 0.97),))
    assert isinstance(d, Review)


def test_rival_fitting_the_weight_with_close_score_blocks_auto_accept() -> None:
    cfg = fusion_config(auto_accept_threshold=0.5)
    d = run(1042, cfg=cfg, predictions=(("oat", 0.6), ("soy", 0.3)))
    assert isinstance(d, Ask)
    assert d.choices == (OAT, SOY)
    # the same scores, but the rival does not fit the weight: accepted
    d = run(1042, cfg=cfg, predictions=(("oat", 0.6), ("Chips", 0.3)))
    assert isinstance(d, Accept)
    assert d.product == OAT


def test_unknown_label_is_a_rival_that_cannot_be_ruled_out() -> None:
    cfg = fusion_config(auto_accept_threshold=0.5)
    d = run(330, cfg=cfg, predictions=(("Cola", 0.6), ("NotSoldHere", 0.3)))
    assert d == Ask((COLA,), "not sure which product this is")
    d = run(330, cfg=cfg, predictions=(("NotSoldHere", 0.9),))
    assert isinstance(d, Review)


def test_labels_of_one_product_add_up() -> None:
    d = run(150, predictions=(("Chips", 0.45), ("chips", 0.40), ("Cola", 0.1)))
    assert isinstance(d, Accept)
    assert d.score == pytest.approx(0.85)


def test_unweighed_product_is_never_auto_accepted_by_the_model() -> None:
    cat = Catalog([Product("card", "Gift card", 1000, barcodes=("96385074",))])
    d = run(20, cat=cat, predictions=(("card", 0.99),))
    assert d == Ask((cat.get("card"),), "not sure which product this is")  # type: ignore[arg-type]
    d = run(20, cat=cat, barcodes=("96385074",))
    assert isinstance(d, Accept)  # a barcode alone may name it


def test_loose_produce_priced_by_weight_within_plausible_range() -> None:
    d = run(640, predictions=(("apple", 0.9),))
    assert d == Accept(APPLE, 1, 640, 192, "model", 0.9)
    assert weight_check(APPLE, 40, CFG, NOW) is None  # below the product's minimum
    assert weight_check(APPLE, 3100, CFG, NOW) is None


def test_several_units_only_when_allowed() -> None:
    assert isinstance(run(301, predictions=(("Chips", 0.95),)), Review)
    d = run(301, cfg=fusion_config(max_units=2), predictions=(("Chips", 0.95),))
    assert isinstance(d, Accept)
    assert (d.quantity, d.price_cents, d.unit_price_cents) == (2, 400, 200)


@pytest.mark.parametrize(("camera_ok", "model_ok", "why"), [(False, True, "camera"), (True, False, "model")])
def test_degraded_vision_asks_for_a_scan(camera_ok: bool, model_ok: bool, why: str) -> None:
    d = run(150, camera_ok=camera_ok, model_ok=model_ok, predictions=(("Chips", 0.99),))
    assert isinstance(d, NeedScan)
    assert why in d.reason


def test_nothing_recognised_is_review() -> None:
    assert isinstance(run(250), Review)


# ------------------------------------------------------------------ property

weights = st.floats(10, 2000, allow_nan=False)
products = st.builds(
    lambda i, w, tol, loose: Product(
        f"p{i}",
        f"P{i}",
        100 + i,
        barcodes=(),
        unit_weight_g=None if loose else w,
        weight_tolerance_g=tol,
        sold_by_weight=loose,
        price_per_kg_cents=500 if loose else None,
        min_weight_g=100 if loose else None,
        max_weight_g=900 if loose else None,
    ),
    st.integers(0, 10_000),
    weights,
    st.none() | st.floats(0, 50),
    st.booleans(),
)
EANS = ["4006381333931", "96385074", "0036000241457", "5901234123457"]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Catalog, float, VisionEvidence, tuple[str, ...], FusionConfig]:
    items = draw(st.lists(products, min_size=1, max_size=6, unique_by=lambda p: p.id))
    with_codes = [
        Product(**{**p.__dict__, "barcodes": (EANS[i],)}) if i < len(EANS) and draw(st.booleans()) else p
        for i, p in enumerate(items)
    ]
    cat = Catalog(with_codes)
    target = draw(st.sampled_from(with_codes))
    units = draw(st.sampled_from([1, 1, 2, 3]))
    near = (target.unit_weight_g or 500.0) * units + draw(st.floats(-25, 25))
    grams = max(near, 1.0) if draw(st.booleans()) else draw(weights)
    labels = [p.id for p in with_codes] + ["unknown"]
    preds = [(target.id, draw(st.floats(0.5, 1)))] if draw(st.booleans()) else []
    preds += draw(st.lists(st.tuples(st.sampled_from(labels), st.floats(0, 1)), max_size=4))
    codes = tuple(draw(st.lists(st.sampled_from(EANS), max_size=2)))
    scanned = tuple(draw(st.lists(st.sampled_from(EANS), max_size=1)))
    cfg = FusionConfig(
        auto_accept_threshold=draw(st.floats(0.05, 1)),
        ambiguity_margin=draw(st.floats(0, 0.6)),
        max_units=draw(st.integers(1, 3)),
    )
    healthy = st.sampled_from([True, True, True, False])
    vision = VisionEvidence(codes, tuple(preds), draw(healthy), draw(healthy))
    return cat, grams, vision, scanned, cfg


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_fusion_never_accepts_a_weight_that_disagrees(scenario) -> None:  # type: ignore[no-untyped-def]
    cat, grams, vision, scanned, cfg = scenario
    d = decide(grams, vision, cat, cfg, now=NOW, scanned=scanned)
    if not isinstance(d, Accept):
        return
    p = d.product
    if p.sold_by_weight:
        assert 100 <= grams <= 900
        assert d.price_cents == int(grams * 500 / 1000 + 0.5)  # half up, as printed on the label
    else:
        assert p.unit_weight_g is not None
        tol = p.weight_tolerance_g if p.weight_tolerance_g is not None else max(8.0, 0.05 * p.unit_weight_g)
        assert 1 <= d.quantity <= cfg.max_units
        assert abs(grams - d.quantity * p.unit_weight_g) <= math.sqrt(d.quantity) * tol + 2.0 + 1e-9
    if d.source == "model":
        assert d.score is not None and d.score >= cfg.auto_accept_threshold
        assert vision.camera_ok and vision.model_ok
