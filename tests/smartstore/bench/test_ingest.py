"""``smartstore bench ingest`` end to end, and why the broker's queue limit matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.client import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from smartstore.testing.broker import MosquittoBroker

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(180)
def test_bench_ingest_cli_reports_no_loss_and_no_duplicate_effects() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "smartstore", "bench", "ingest", "--json", "--db", "sqlite", "--events", "1500"],
        cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["events"] == 1500
    assert result["messages_published"] > 1500  # duplicates were re-sent...
    assert result["lost"] == 0
    assert result["duplicates"] == 0  # ...and had no second effect
    assert result["events_per_s"] > 0
    assert result["p99_ack_ms"] is not None
    assert result["broker_max_queued_messages"] >= 1_000_000
    assert result["worker_errors"] == []


def _received_after_offline_burst(broker: MosquittoBroker, n: int) -> int:
    """Publish ``n`` QoS 1 messages while a persistent subscriber is offline; count what it gets."""
    got: list[bytes] = []
    cid = f"slow-{uuid.uuid4().hex[:6]}"
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 300

    def subscriber() -> mqtt.Client:
        c = broker.login(mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5))
        c.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
        c.connect(broker.host, broker.port, clean_start=False, properties=props)
        c.loop_start()
        return c

    sub = subscriber()
    sub.subscribe("burst/#", qos=1)
    time.sleep(0.3)
    sub.disconnect()
    sub.loop_stop()
    pub = broker.login(mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5))
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    for i in range(n):
        pub.publish("burst/x", str(i), qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    sub = subscriber()
    deadline = time.monotonic() + 5
    last = -1
    while time.monotonic() < deadline and last != len(got):
        last = len(got)
        time.sleep(0.5)
    sub.disconnect()
    sub.loop_stop()
    return len(got)


def test_mosquitto_drops_qos1_past_max_queued_messages_unless_raised(tmp_path: Path) -> None:
    with MosquittoBroker(workdir=tmp_path / "small", max_queued_messages=100) as small:
        assert _received_after_offline_burst(small, 400) < 400  # the stock-like limit loses messages
    with MosquittoBroker(workdir=tmp_path / "big") as big:  # what the bench and deployments use
        assert _received_after_offline_burst(big, 400) == 400
