"""The door benchmark runs the real pipeline end to end and reports every field it promises."""

from __future__ import annotations

from smartstore.bench.door import run_door_bench


def test_door_bench_reports_real_unlocks() -> None:
    result = run_door_bench(samples=8)
    assert result["samples"] == 8
    assert result["missed"] == 0
    assert result["false_unlocks_on_empty_frames"] == 0
    assert 0 < result["decode_p99_ms"] <= result["p99_ms"] * 10
    assert abs(result["ratio_p99"] - result["p99_ms"] / result["decode_p99_ms"]) < 0.01
    for key in ("p50_ms", "relay_p50_ms", "relay_p99_ms", "empty_frame_ms", "rss_mb"):
        assert result[key] > 0
    assert result["events_in_outbox"] >= 8  # every grant was written to the outbox
