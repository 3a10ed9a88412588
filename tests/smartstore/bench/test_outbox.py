"""``smartstore bench outbox`` runs its four measurements against a real broker and reports them."""

from __future__ import annotations

from smartstore.bench.outbox import run_outbox_bench


def test_outbox_bench_delivers_everything_in_order_on_every_path() -> None:
    result = run_outbox_bench(events=400)
    assert result["events"] == 400
    for key in ("raw_msgs_per_s", "outbox_msgs_per_s", "acked_msgs_per_s", "door_codes_per_s", "replay_events_per_s"):
        assert result[key] > 0, key
    assert result["ratio"] > 0 and result["acked_ratio"] > 0
    assert result["replay_in_order"] is True
    assert result["live_delivered"] is True
