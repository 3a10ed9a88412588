"""A simulated night at the store's door, end to end, on embedded defaults.

Everything is real except the hardware: a private Mosquitto, the agent with its SQLite outbox,
pyserial drivers talking to byte-exact simulators on pseudo-terminals (LCUS lock relay, Modbus IO
module with door contact and exit button, serial QR scanner), and the camera reader decoding
video files of real QR codes. A "cloud" subscriber counts what arrives.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from contracts.member_code import WINDOW_S, IssuerKey, PhoneKey, encode_public_keys, window_of
from contracts.messages import LockdownCommand, UnlockCommand, dump
from contracts.payments import PaymentReply
from contracts.topics import (
    COMMAND,
    COMMAND_REPLY,
    EVENT,
    PAY_REPLY,
    PAY_REQUEST,
    SYNC_SNAPSHOT,
    Route,
    Topics,
    UnknownTopic,
    route,
)
from devices.lcus.simulator import LcusSimulator
from devices.modbus.simulator import ModbusSimulator
from devices.pty import PtySimulatorHost
from devices.scanner.simulator import ScannerSimulator
from edge_agent.adapters.camera import CameraReader, place_on_frame, qr_image
from edge_agent.adapters.outbox import Outbox
from edge_agent.bootstrap import build_agent
from edge_agent.config import AgentSettings
from edge_agent.domain.actions import Feedback
from edge_agent.domain.door import CodePresented
from smartstore.demo_checkout import CheckoutSims as _CheckoutSims
from smartstore.testing.broker import MosquittoBroker
from smartstore.testing.signing import pin, signed

STORE = "store-001"
TOPICS = Topics(STORE)


class Cloud:
    """A cloud-side subscriber with a persistent session that records everything."""

    def __init__(self, broker: MosquittoBroker, say: Any) -> None:
        """Connect and subscribe to the store's topics."""
        self.say = say
        self.events: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.wallets = {"alice": 5000, "bob": 100, "frank": 5000}
        self.declined = 0
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-cloud", clean_session=False)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(TOPICS.everything, qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        broker.login(self.client)  # the recorder plays every cloud role at once
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            r: Route | None = route(msg.topic)
        except UnknownTopic:
            r = None
        spec = r.spec if r is not None else None
        with self.cond:
            if spec is EVENT:
                event = json.loads(msg.payload)
                self.events.append(event)
                extra = event.get("reason") or event.get("cause") or event.get("alarm") or event.get("member_id") or ""
                self.say(f"  cloud <- {event['type']:<15} {extra}")
            elif r is not None and spec is PAY_REQUEST:
                self._pay(client, PAY_REQUEST.parse(r, bytes(msg.payload)))
            elif spec is COMMAND_REPLY:
                reply = json.loads(msg.payload)
                self.replies.append(reply)
                self.say(f"  cloud <- reply {reply['name']} {reply['status']}")
            self.cond.notify_all()

    def _pay(self, client: mqtt.Client, request: Any) -> None:
        balance = self.wallets.get(request.member_id, 0)
        ok = balance >= request.amount_cents
        if ok:
            self.wallets[request.member_id] = balance - request.amount_cents
        else:
            self.declined += 1
        reply = PaymentReply(
            request_id=request.request_id,
            status="approved" if ok else "declined",
            authorization_id=f"auth-{request.request_id.hex[:8]}" if ok else None,
            balance_cents=self.wallets.get(request.member_id, 0),
            reason="" if ok else "insufficient_funds",
        )
        self.say(f"  cloud: payment of {request.amount_cents / 100:.2f} for {request.member_id}: {reply.status}")
        client.publish(
            TOPICS.pay_reply, signed(TOPICS.pay_reply, dump(reply)), qos=PAY_REPLY.qos, retain=PAY_REPLY.retain
        )

    def publish_catalog(self, snapshot: Any) -> None:
        """Publish the retained catalog snapshot."""
        topic = TOPICS.sync_snapshot("catalog")
        payload = signed(topic, dump(snapshot), fleet=True)
        self.client.publish(topic, payload, qos=SYNC_SNAPSHOT.qos, retain=SYNC_SNAPSHOT.retain).wait_for_publish(5)

    def wait_events(self, count: int, timeout: float = 20.0) -> bool:
        """Wait until at least ``count`` distinct events have arrived."""
        with self.cond:
            return self.cond.wait_for(lambda: len({e["event_id"] for e in self.events}) >= count, timeout)

    def command(self, name: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish an operator command, signed with the demo's downlink key (``retain``: to show it is refused)."""
        topic = TOPICS.command(name)
        self.client.publish(topic, signed(topic, payload), qos=COMMAND.qos, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


class Phone:
    """A member's phone: a key pair and a signed pass."""

    def __init__(self, issuer: IssuerKey, member: str, tier: str = "standard") -> None:
        """Enrol ``member``: the cloud signs a pass for this phone's key."""
        self.member = member
        self.key = PhoneKey.generate()
        self.signed = issuer.issue_pass(
            member_id=member, tier=tier, phone_key=self.key.public_raw, now=time.time() - 60
        )
        self.last_window = 0

    def code(self, store: str = STORE, at: float | None = None) -> str:
        """Show the code of the current 15 s window."""
        now = at or time.time()
        self.last_window = max(self.last_window, window_of(now))
        return self.key.show_code(self.signed, store_id=store, now=now)

    def next_code(self) -> str:
        """Show a code not shown before (one store's readers share a replay cache): wait for it if need be."""
        window = max(window_of(time.time()), self.last_window + 1)
        while window > window_of(time.time()) + 1:  # the store accepts one window ahead, not two
            time.sleep(max(0.05, (window - 1) * WINDOW_S - time.time()))
        return self.code(at=max(time.time(), window * WINDOW_S))


def _clip(path: Path, code: str) -> Path:
    """Write a short video: empty frames, then the phone held up to the camera."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15, (640, 480))
    rng = np.random.default_rng(len(code))
    for i in range(8):
        frame = np.clip(rng.normal(120, 30, (480, 640, 3)), 0, 255).astype(np.uint8)
        if i >= 3:
            frame = place_on_frame(qr_image(code, scale=3), offset=(80 + i * 4, 200 + i * 6))
        writer.write(frame)
    writer.release()
    return path


def run_demo(*, quiet: bool = False, workdir: str | None = None) -> dict[str, Any]:
    """Run the night and return the summary."""
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="smartstore-demo-"))
    if root.exists() and workdir:
        shutil.rmtree(root / "data", ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    issuer = IssuerKey.generate()
    keys = root / "issuer-keys.json"
    keys.write_text(json.dumps(encode_public_keys({issuer.kid: issuer.public_raw})))

    broker = MosquittoBroker(workdir=root / "mosquitto")
    lcus, io, scanner = LcusSimulator(), ModbusSimulator(), ScannerSimulator()
    hosts = [
        PtySimulatorHost(lcus, root / "tty-lock"),
        PtySimulatorHost(io, root / "tty-io"),
        PtySimulatorHost(scanner, root / "tty-scanner"),
    ]
    checkout = _CheckoutSims(root)
    broker.start()
    for h in hosts:
        h.start()
    cloud = Cloud(broker, say)
    login = broker.store_login(STORE)  # what enrolment would have given the store
    settings = AgentSettings.model_validate(
        {
            "store_id": STORE,
            "data_dir": str(root / "data"),
            "issuer_keys_file": str(keys),
            "downlink_keys_file": str(pin(root / "downlink-keys.json")),
            "door": {
                "unlock_s": 1.0,
                "held_open_s": 2.0,
                "rex_mask_s": 1.0,
                "occupancy_cap": 4,
                "tier_hours": {"basic": ["06:00-07:00"]} if _hour_outside_6_to_7() else {"basic": ["08:00-09:00"]},
            },
            "lock": {"type": "lcus", "url": hosts[0].path},
            "inputs": {"url": hosts[1].path},
            "scanner": {"url": hosts[2].path},
            # The demo's cloud is a recorder that sends no delivery acknowledgements (yet).
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "keepalive": 5,
                "delivery": "broker",
                "username": login.username,
                "password": login.password,
            },
            "checkout": checkout.settings(),
        }
    )

    say("-- a stale unlock command was left retained on the broker before the agent starts")
    cloud.command(
        "unlock",
        dump(UnlockCommand(correlation_id="op-stale", expires_at=datetime.now(UTC) + timedelta(hours=1))),
        retain=True,
    )

    def feedback(fb: Feedback) -> None:
        say(f"  reader: {fb.message}")

    running = build_agent(settings, on_feedback=feedback)
    agent = running.agent
    checkout.attach(running)
    phones = {
        name: Phone(issuer, name, tier)
        for name, tier in [
            ("alice", "gold"),
            ("bob", "standard"),
            ("carol", "standard"),
            ("dave", "basic"),
            ("frank", "standard"),
            ("grace", "standard"),
            ("heidi", "standard"),
        ]
    }
    clips = root / "clips"
    clips.mkdir(exist_ok=True)
    ok = True

    def settle(seconds: float = 0.3) -> None:
        time.sleep(seconds)
        agent.wait_idle(2)

    def camera(name: str, code: str) -> None:
        reader = CameraReader(
            str(_clip(clips / f"{name}-{len(list(clips.iterdir()))}.avi", code)),
            on_code=lambda text: agent.submit(CodePresented(text, reader="camera")),
        )
        reader.start()
        reader.finished.wait(10)
        settle()

    def walk_in() -> None:
        io.set_input(0, True)
        settle(0.3)
        io.set_input(0, False)
        settle(0.3)

    time.sleep(1.0)
    say(f"== 23:00 night mode at {STORE}; door locked (relay frames so far: {lcus.history})")
    say("-- alice shows her code to the door camera")
    alice_code = phones["alice"].code()
    camera("alice", alice_code)
    ok &= lcus.states[1] or any(h.on for h in lcus.history)
    walk_in()
    say("-- bob scans his phone at the serial reader")
    scanner.scan(phones["bob"].code())
    settle()
    walk_in()
    say("-- alice passes her phone back out through the door; a friend shows her next code")
    scanner.scan(phones["alice"].code(at=time.time() + 15))
    settle()
    say("-- someone replays a screenshot of alice's code")
    scanner.scan(alice_code)
    settle()
    say("-- a forged code (alice's pass with a bad phone signature)")
    scanner.scan(alice_code[:-8] + ("AAAAAAAA" if not alice_code.endswith("AAAAAAAA") else "BBBBBBBB"))
    settle()
    say("-- a code made for another store, an old screenshot, and a stranger's issuer")
    scanner.scan(phones["bob"].code(store="store-002"))
    settle(1.2)
    scanner.scan(phones["frank"].code(at=time.time() - 120))
    settle(1.2)
    scanner.scan(Phone(IssuerKey.generate(), "mallory").code())
    settle()
    say("-- a QR that is not a member code, and line noise on the scanner")
    scanner.scan("https://example.com/promo")
    scanner.inject(b"\x00\xff\x13garbage\xfe\r\n")
    settle()
    say("-- the cloud revokes carol; she tries anyway")
    agent.controller.verifier.revocations.replace(["carol"], version=1)
    scanner.scan(phones["carol"].code())
    settle()
    say("-- dave's basic tier may only enter at set hours")
    scanner.scan(phones["dave"].code())
    settle()
    say("== 00:40 shoppers at the self-checkout")
    cloud.publish_catalog(checkout.catalog_snapshot())
    settle(1.0)
    checkout.shop(say, "alice", phones["alice"].next_code(), [("milk", None), ("apples", None)])
    checkout.shop(say, "bob", phones["bob"].next_code(), [("juice", None)])
    say("== 01:30 the broker restarts; frank arrives while it is down")
    broker.stop()
    settle(0.5)
    scanner.scan(phones["frank"].code())
    settle()
    walk_in()
    say("-- frank pays at the checkout while the cloud is unreachable (offline, within his floor limit)")
    checkout.shop(say, "frank", phones["frank"].next_code(), [("juice", None)])
    say(f"  (outbox holds {len(running.outbox)} events while the broker is down)")
    broker.start()
    say("   broker back")
    settle(2.0)
    say("-- grace comes in: the store is now at its cap of 4; heidi must wait")
    scanner.scan(phones["grace"].code())
    settle()
    walk_in()
    scanner.scan(phones["heidi"].code())
    settle()
    say("-- bob leaves with the exit button (free egress)")
    io.set_input(1, True)
    settle(0.2)
    io.set_input(1, False)
    walk_in()
    say("-- a door is pried open while locked")
    time.sleep(1.2)
    io.set_input(0, True)
    settle(2.5)
    say("   ...and left open: held-open alarm; then closed")
    io.set_input(0, False)
    settle()
    say("-- the operator unlocks remotely; an expired unlock is refused; then lockdown")
    now = datetime.now(UTC)
    cloud.command(
        "unlock", dump(UnlockCommand(correlation_id="op-1", expires_at=now + timedelta(seconds=30), duration_s=1))
    )
    settle(1.5)
    cloud.command("unlock", dump(UnlockCommand(correlation_id="op-old", expires_at=now - timedelta(seconds=5))))
    settle()
    cloud.command(
        "lockdown", dump(LockdownCommand(correlation_id="op-2", expires_at=now + timedelta(seconds=30), active=True))
    )
    settle()
    scanner.scan(phones["heidi"].code(at=time.time() + 15))
    settle()
    cloud.command(
        "lockdown", dump(LockdownCommand(correlation_id="op-3", expires_at=now + timedelta(seconds=30), active=False))
    )
    settle()
    say("-- the lock relay's USB cable is pulled and plugged back")
    hosts[0].unplug()
    settle(1.0)
    hosts[0].replug()
    settle(2.0)

    state = agent.controller.snapshot()
    running.stop()
    outbox = Outbox(settings.data_dir / "outbox.db")
    counters = outbox.counters()
    pending = len(outbox)
    outbox.close()
    written = counters["written"]
    cloud.wait_events(written, timeout=20)
    cloud.close()
    for h in hosts:
        h.stop()
    checkout.stop()
    broker.close()
    delivered_ids = {e["event_id"] for e in cloud.events}
    sales = [e for e in cloud.events if e["type"] == "sale_completed"]
    denied = Counter(e["reason"] for e in cloud.events if e["type"] == "access_denied")
    summary: dict[str, Any] = {
        "ok": bool(ok),
        "granted": agent.stats.granted,
        "denied": dict(sorted(denied.items())),
        "alarms": sorted({e["alarm"] for e in cloud.events if e["type"] == "alarm_raised"}),
        "events_written": written,
        "events_delivered": len(delivered_ids),
        "duplicates_received": len(cloud.events) - len(delivered_ids),
        "outbox_pending": pending,
        "lost": written - len(delivered_ids),
        "occupancy_at_end": state.occupancy,
        "broker_restarts": 1,
        "relay_frames": len(lcus.history),
        "command_replies": {r["correlation_id"]: r["status"] for r in cloud.replies},
        "baskets": checkout.baskets,
        "paid": len({e["sale_id"] for e in sales}),
        "revenue": round(sum(e["total_cents"] for e in {e["sale_id"]: e for e in sales}.values()) / 100, 2),
        "offline_payments": len({e["sale_id"] for e in sales if e["payment_mode"] == "offline"}),
        "declined_payments": cloud.declined,
    }
    if not workdir:
        shutil.rmtree(root, ignore_errors=True)
    return summary


def _hour_outside_6_to_7() -> bool:
    """Return whether now (UTC) is outside 06:00-07:00, so the basic tier is refused."""
    return not 6 <= datetime.now(UTC).hour < 7
