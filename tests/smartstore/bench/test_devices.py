"""``bench devices`` figures have the promised shape and plausible values."""

from __future__ import annotations

from smartstore.bench import devices as bench


def test_scale_bench_reports_latency_overhead_and_the_odoo_reference() -> None:
    result = bench.bench_scale("toledo8217", trials=3, idle_s=0.5)
    assert result["odoo_reference_ms"] == 1000
    assert result["missed"] == 0
    latency = result["weight_change_to_stable_event_ms"]
    assert latency["n"] == 3
    assert latency["median"] >= 500
    assert result["first_stable_reading_ms"]["median"] < latency["median"]
    assert result["overhead"]["polls_or_frames_per_s"] > 5
    assert result["overhead"]["bytes_per_s_to_scale"] > 0


def test_display_benches() -> None:
    escpos = bench.bench_escpos(trials=3)
    assert escpos["render_basket_screen_ms"]["n"] == 3
    assert escpos["wire_ms_at_9600_8n1"] == round(escpos["screen_bytes"] * 10 / 9.6, 1)
    nextion = bench.bench_nextion(trials=3)
    assert nextion["render_basket_screen_acked_ms"]["n"] == 3
    assert nextion["screen_bytes"] > 50
