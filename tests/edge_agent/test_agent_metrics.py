"""Issue 15: the agent's metrics say what the door does, how fast it decides, and which device is down."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from edge_agent.bootstrap import build_agent
from edge_agent.config import AgentSettings
from smartstore.testing.broker import free_port
from tests.edge_agent.conftest import Sims, agent_settings
from tests.edge_agent.helpers import Members


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_show_decisions_latency_door_state_and_a_device_going_down(
    tmp_path: Path, sims: Sims, members: Members
) -> None:
    raw = agent_settings(tmp_path, sims, None, members)
    raw["mqtt"] = None
    raw["metrics_port"] = free_port()
    running = build_agent(AgentSettings.model_validate(raw))
    try:
        sims.scanner.scan(members.code("m-1", time.time()))
        sims.scanner.scan("SM1.not-a-code")
        assert running.agent.wait_idle(5)
        deadline = time.monotonic() + 10
        while (
            running.agent.stats.granted + sum(running.agent.stats.denied.values()) < 2 and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        m = _scrape(raw["metrics_port"])
        assert m[("smartstore_agent_decisions_total", (("result", "granted"),))] == 1
        assert sum(v for (name, labels), v in m.items() if name == "smartstore_agent_decisions_total") == 2
        assert m[("smartstore_agent_decision_seconds_count", ())] == 2
        assert m[("smartstore_agent_decision_seconds_bucket", (("le", "+Inf"),))] == 2
        assert (
            m[("smartstore_agent_mode", (("mode", "night"),))] + m[("smartstore_agent_mode", (("mode", "day"),))] == 1
        )
        assert ("smartstore_agent_occupancy", ()) in m and ("smartstore_agent_lock_released", ()) in m
        sims.lcus_host.unplug()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = _scrape(raw["metrics_port"])
            if m.get(("smartstore_agent_device_up", (("device", "lock"), ("kind", "lcus")))) == 0.0:
                break
            time.sleep(0.1)
        assert m[("smartstore_agent_device_up", (("device", "lock"), ("kind", "lcus")))] == 0.0
    finally:
        sims.lcus_host.replug()
        running.stop()


def test_checkout_items_and_sales_are_exported_by_station_and_decision() -> None:
    from collections import Counter
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry, generate_latest

    from edge_agent.adapters.metrics import StoreCollector
    from edge_agent.services.stats import AgentStats

    station = SimpleNamespace(item_decisions=Counter(accepted_barcode=2, review=1), paid_by=Counter(scanner=1))
    agent = SimpleNamespace(stats=AgentStats(), door=None, stations={"co2": station})
    registry = CollectorRegistry()
    registry.register(StoreCollector(agent))  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    assert 'smartstore_agent_checkout_items_total{decision="accepted_barcode",station="co2"} 2.0' in text
    assert 'smartstore_agent_checkout_items_total{decision="review",station="co2"} 1.0' in text
    assert 'smartstore_agent_checkout_sales_total{paid_by="scanner",station="co2"} 1.0' in text
