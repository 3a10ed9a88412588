"""The checkout benchmark runs end to end on a few real validation photos and counts honestly."""

from __future__ import annotations

import pytest

from smartstore.bench.checkout import run_checkout_bench
from smartstore.grocery import build_catalog
from tests.conftest import GROCERY


@pytest.fixture(scope="module")
def data():  # type: ignore[no-untyped-def]
    if not (GROCERY / "val.txt").exists():
        pytest.skip("grocery-store dataset not available")
    return GROCERY


def test_catalog_covers_every_class_with_valid_barcodes(data) -> None:  # type: ignore[no-untyped-def]
    from edge_agent.domain.barcodes import normalize_gtin

    catalog, by_class = build_catalog(data)
    assert len(catalog) == 81
    packaged = [p for p in by_class.values() if not p.sold_by_weight]
    assert len(packaged) == 31
    assert all(p.unit_weight_g and normalize_gtin(p.barcodes[0]) for p in packaged)
    assert all(p.price_per_kg_cents for p in by_class.values() if p.sold_by_weight)


def test_bench_runs_baskets_through_the_real_pipeline(data) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("onnxruntime")
    result = run_checkout_bench(data, items=5, seed=3)
    assert result["items"] == 5
    assert result["paid"] == result["baskets"] >= 1
    outcomes = sum(result[k] for k in ("auto_accepted", "asked", "scanned", "review", "missed"))
    assert outcomes == 5
    assert result["missed"] == 0
    assert result["inference_p50_ms"] is not None and result["inference_p50_ms"] > 0
