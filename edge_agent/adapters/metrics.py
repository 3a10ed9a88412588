"""The agent's Prometheus metrics on a loopback port: delivery to the cloud, the door, decisions, devices.

Values are read when scraped (a custom collector), so nothing is counted twice and the decision
loop pays nothing for them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from edge_agent.adapters.mqtt import DeliveryState, MqttLink
from edge_agent.adapters.outbox import Outbox
from edge_agent.agent import StoreAgent

log = logging.getLogger(__name__)


class DeliveryCollector(Collector):
    """Outbox depth, the oldest unacknowledged event's age, resends and the broker link."""

    def __init__(self, outbox: Outbox, link: MqttLink | None) -> None:
        """Read ``outbox`` and (if the agent has one) ``link`` at every scrape."""
        self.outbox = outbox
        self.link = link

    def collect(self) -> Iterator[Any]:
        """Yield the current values."""
        state = self.link.delivery_state() if self.link is not None else DeliveryState.of(self.outbox, "none", 0, 0, 0)
        yield GaugeMetricFamily("smartstore_agent_outbox_pending", "Events in the outbox", value=state.pending)
        yield GaugeMetricFamily(
            "smartstore_agent_outbox_oldest_unacked_seconds",
            "Age of the oldest event the cloud has not acknowledged (0 when none)",
            value=state.oldest_unacked_age_s or 0.0,
        )
        yield GaugeMetricFamily(
            "smartstore_agent_awaiting_ack", "Events the broker took that await the cloud", value=state.awaiting_ack
        )
        yield GaugeMetricFamily(
            "smartstore_agent_committed_through",
            "Every event up to this seq is committed in the cloud",
            value=state.committed_through,
        )
        yield CounterMetricFamily(
            "smartstore_agent_resends", "Events published again for want of an acknowledgement", value=state.resends
        )
        counters = self.outbox.counters()
        yield CounterMetricFamily("smartstore_agent_events_written", "Events written", value=counters["written"])
        yield CounterMetricFamily("smartstore_agent_events_dropped", "Telemetry dropped", value=counters["dropped"])
        connected = 1.0 if self.link is not None and self.link.connected else 0.0
        yield GaugeMetricFamily("smartstore_agent_broker_connected", "1 while connected to the broker", value=connected)
        reconnects = self.link.reconnects if self.link is not None else 0
        yield CounterMetricFamily(
            "smartstore_agent_broker_reconnects", "Broker connections after the first", value=reconnects
        )


class StoreCollector(Collector):
    """The door's state, access decisions by result with their latency, and each device's status."""

    def __init__(self, agent: StoreAgent) -> None:
        """Read ``agent`` at every scrape (plain reads of what the decision thread last wrote)."""
        self.agent = agent

    def collect(self) -> Iterator[Any]:
        """Yield the current values."""
        stats = self.agent.stats
        decisions = CounterMetricFamily("smartstore_agent_decisions", "Door decisions by result", labels=["result"])
        decisions.add_metric(["granted"], stats.granted)
        for reason, count in sorted(stats.denied.items()):
            decisions.add_metric([reason], count)
        yield decisions
        latency = HistogramMetricFamily(
            "smartstore_agent_decision_seconds", "From a code presented at the door to lock and feedback"
        )
        latency.add_metric([], stats.decision_s.cumulative(), stats.decision_s.total_s)
        yield latency
        items = CounterMetricFamily(
            "smartstore_agent_checkout_items", "Checkout items by decision", labels=["station", "decision"]
        )
        sales = CounterMetricFamily(
            "smartstore_agent_checkout_sales", "Checkout sales by what confirmed payment", labels=["station", "paid_by"]
        )
        for station_id, station in sorted(self.agent.stations.items()):
            for decision, n in sorted(station.item_decisions.items()):
                items.add_metric([station_id, decision], n)
            for source, n in sorted(station.paid_by.items()):
                sales.add_metric([station_id, source], n)
        yield items
        yield sales
        door = self.agent.door
        if door is None:
            return
        state = door.controller.snapshot()
        yield GaugeMetricFamily(
            "smartstore_agent_door_open", "1 while the door contact is open", value=float(state.door == "open")
        )
        yield GaugeMetricFamily(
            "smartstore_agent_lock_released", "1 while the lock is released", value=float(state.lock == "unlocked")
        )
        yield GaugeMetricFamily("smartstore_agent_occupancy", "People counted inside", value=state.occupancy)
        yield GaugeMetricFamily("smartstore_agent_lockdown", "1 during a lockdown", value=float(state.lockdown))
        mode = GaugeMetricFamily("smartstore_agent_mode", "1 for the current mode", labels=["mode"])
        for name in ("day", "night"):
            mode.add_metric([name], float(state.mode.value == name))
        yield mode
        alarms = GaugeMetricFamily("smartstore_agent_alarms_active", "Active door alarms", value=len(state.alarms))
        yield alarms
        up = GaugeMetricFamily("smartstore_agent_device_up", "1 while the device answers", labels=["device", "kind"])
        for name, status in sorted(door.devices.items()):
            up.add_metric([name, status.kind], float(status.status == "online"))
        yield up


class MetricsServer:
    """``/metrics`` on ``127.0.0.1:port`` (Prometheus text format), stopped with the agent."""

    def __init__(
        self, port: int, outbox: Outbox, link: MqttLink | None, agent: StoreAgent | None = None, host: str = "127.0.0.1"
    ) -> None:
        """Serve the delivery (and, with ``agent``, the store) collectors on ``host:port`` (started by ``start``)."""
        self.port, self.host = port, host
        self.registry = CollectorRegistry()
        self.registry.register(DeliveryCollector(outbox, link))
        if agent is not None:
            self.registry.register(StoreCollector(agent))
        self._server: Any = None

    def start(self) -> None:
        """Listen (a daemon thread of prometheus-client)."""
        self._server, _thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
