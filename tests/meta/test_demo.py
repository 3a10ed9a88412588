"""The README's main job (`make demo`): a simulated night, end to end, loses nothing."""

from __future__ import annotations

from contracts.messages import DenyReason
from smartstore.demo import run_demo


def test_the_demo_night_refuses_each_reason_once_and_loses_no_event() -> None:
    summary = run_demo(quiet=True)
    assert summary["ok"]
    assert summary["granted"] == 4
    assert summary["denied"] == {reason.value: 1 for reason in DenyReason}
    assert summary["lost"] == 0
    assert summary["events_delivered"] == summary["events_written"] > 0
    assert summary["command_replies"] == {
        "op-stale": "rejected",
        "op-1": "ok",
        "op-old": "expired",
        "op-2": "ok",
        "op-3": "ok",
    }
    assert (summary["paid"], summary["offline_payments"], summary["declined_payments"]) == (2, 1, 1)
