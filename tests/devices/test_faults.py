"""Generic fault injection: delayed, dropped and garbage bytes around any simulator."""

from __future__ import annotations

from devices.faults import FaultPlan, FaultySimulator
from devices.mtsics.simulator import MtSicsSimulator


class Echo:
    """A simulator that sends back what it gets and a heartbeat when polled."""

    def __init__(self) -> None:
        """Start with no heartbeat."""
        self.beat = b""

    def receive_data(self, data: bytes) -> bytes:
        """Echo ``data``."""
        return data

    def poll(self, now: float) -> bytes:
        """Send the heartbeat."""
        return self.beat


def test_delay_holds_replies_until_due() -> None:
    sim = FaultySimulator(Echo(), FaultPlan(delay_s=10.0))
    assert sim.receive_data(b"abc") == b""
    assert sim.poll(0.0) == b""
    assert sim.poll(1e12) == b"abc"
    assert sim.poll(1e12) == b""


def test_drop_all_replies() -> None:
    sim = FaultySimulator(Echo(), FaultPlan(drop_ratio=1.0))
    assert [sim.receive_data(b"x") for _ in range(5)] == [b""] * 5
    assert sim.dropped == 5


def test_garbage_is_periodic_and_cannot_end_a_line_or_start_a_frame() -> None:
    sim = FaultySimulator(Echo(), FaultPlan(garbage_every_s=1.0, garbage_bytes=50))
    assert sim.poll(0.0) == b""  # the first call arms the timer
    noise = sim.poll(1.0)
    assert len(noise) == 50
    assert sim.garbage_sent == 1
    assert not set(noise) & {0x02, 0x0A, 0x0D, 0x53, 0xFF}
    assert sim.poll(1.5) == b""


def test_wrapped_simulator_attributes_stay_reachable() -> None:
    inner = MtSicsSimulator()
    sim = FaultySimulator(inner, FaultPlan())
    assert sim.model is inner.model
    assert sim.name == "mtsics"
