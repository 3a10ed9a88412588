"""A simulated night at the store, end to end, on the whole real system and embedded defaults.

Everything is real except the hardware: a private Mosquitto with logins, a SQLite cloud database,
``cloud serve`` (API, dashboard, downlink) and ``cloud ingest`` as processes, and an agent enrolled
as a technician does it and run as ``agent run``, its pyserial drivers talking to byte-exact
simulators on pseudo-terminals hosted here (LCUS lock relay, Modbus IO, door scanner, checkout
scale, touch screen and scanner). The operator acts through the cloud's REST API only; the
summary reports the cloud database's own counts beside what the agent wrote.
"""

from __future__ import annotations

import base64
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from contracts.member_code import WINDOW_S, PhoneKey, window_of
from devices.lcus.simulator import LcusSimulator
from devices.modbus.simulator import ModbusSimulator
from devices.pty import PtySimulatorHost
from devices.scanner.simulator import ScannerSimulator
from devices.wiegand.simulator import WiegandSimulator
from edge_agent.domain.catalog import Product
from smartstore.demo_checkout import ITEMS, STATION, CheckoutSims, load_products, product_body
from smartstore.stack import INTERRUPTED, Api, ApiError, Stack, StackError, signals_deferred, wait_for
from smartstore.testing.staff import RESTOCKER_BADGE, present_card
from smartstore.testing.stations import StationSims

STORE = "store-001"
# member, tier, wallet top-up in cents
MEMBERS = [
    ("alice", "gold", 10_000),
    ("bob", "standard", 100),
    ("carol", "standard", 0),
    ("dave", "basic", 0),
    ("frank", "standard", 5_000),
    ("grace", "standard", 5_000),
    ("heidi", "standard", 0),
]
Say = Callable[[str], None]
POLE_STATION = "co2"


class Phone:
    """A member's phone: its own key pair and the pass the cloud signed for it."""

    def __init__(self, api: Api, member: str) -> None:
        """Make a phone key and have the cloud issue a pass for it (``POST /members/{id}/passes``)."""
        self.member = member
        self.key = PhoneKey.generate()
        issued = api.post(f"/members/{member}/passes", {"phone_public_key": self.key.public_raw.hex()})
        self.signed = base64.b64decode(issued["signed_pass_b64"])
        self.last_window = 0

    def code(self, store: str = STORE, at: float | None = None) -> str:
        """Show the code of the current 15 s window (or the window of ``at``)."""
        now = at or time.time()
        self.last_window = max(self.last_window, window_of(now))
        return self.key.show_code(self.signed, store_id=store, now=now)

    def next_code(self) -> str:
        """Show a code not shown before (a store's readers share a replay cache): wait for it if need be."""
        window = max(window_of(time.time()), self.last_window + 1)
        while window > window_of(time.time()) + 1:  # the store accepts one window ahead, not two
            time.sleep(max(0.05, (window - 1) * WINDOW_S - time.time()))
        return self.code(at=max(time.time(), window * WINDOW_S))


class Night:
    """The scripted night: simulators driven here, the operator acting through the cloud API."""

    def __init__(self, stack: Stack, say: Say, root: Path, products: list[Product] | None = None) -> None:
        """Start the door's simulators and the checkout's (``products``: default the dataset's catalog)."""
        self.stack, self.say, self.root = stack, say, root
        self.lcus, self.io, self.scanner = LcusSimulator(), ModbusSimulator(), ScannerSimulator()
        self.badges = WiegandSimulator()  # a Wiegand card reader beside the door, for staff
        self.hosts = [
            PtySimulatorHost(self.lcus, root / "tty-lock").start(),
            PtySimulatorHost(self.io, root / "tty-io").start(),
            PtySimulatorHost(self.scanner, root / "tty-scanner").start(),
            PtySimulatorHost(self.badges, root / "tty-badges").start(),
        ]
        photos: dict[str, Any] = {}
        if products is None:
            products, photos = load_products(say)
        self.products = products
        self.checkout = CheckoutSims(root, self.products, photos)
        self.pole = StationSims.pole_only(root, POLE_STATION)  # a second checkout: pole display and scanner only
        self.phones: dict[str, Phone] = {}
        self.agent: Any = None
        self.data = root / "data"
        self.revocation_ms: float | None = None
        self.app_entries = 0
        self.paid_without_touch = 0
        self.price_seen: dict[str, str] = {}

    # ------------------------------------------------------------------ set-up, as the operator and technician do

    def devices(self) -> dict[str, Any]:
        """Return the store's devices file: the ptys, the door rules and the checkout."""
        basic = ["06:00-07:00"] if not 6 <= datetime.now(UTC).hour < 7 else ["08:00-09:00"]  # dave is refused
        return {
            "door": {"unlock_s": 1.0, "held_open_s": 2.0, "rex_mask_s": 1.0, "occupancy_cap": 5,
                     "tier_hours": {"basic": basic}},
            "lock": {"type": "lcus", "url": str(self.hosts[0].path)},
            # A pair of IR beams across the doorway (inputs 2 and 3) counts passages and their direction.
            "inputs": {"url": str(self.hosts[1].path), "beam_outer_input": 2, "beam_inner_input": 3},
            "scanner": {"url": str(self.hosts[2].path)},
            "readers": [{"type": "wiegand", "url": str(self.hosts[3].path)}],
            "mqtt": {"keepalive": 5},
            "checkout": self.checkout.devices() | {
                "stations": [*self.checkout.devices()["stations"], self.pole.settings()]
            },
        }  # fmt: skip

    def set_up(self) -> None:
        """Issuer key, catalog, members with passes and wallets, then enrol and start the agent."""
        api = self.stack.api
        self.say("== 22:00 the operator prepares the cloud (REST API)")
        api.post("/issuer-keys")
        for product in self.products:
            api.post("/products", product_body(product))
        for member, tier, topup in MEMBERS:
            api.post("/members", {"id": member, "name": member.title(), "tier": tier})
            if topup:
                api.post(f"/members/{member}/wallet/topups", {"amount_cents": topup, "reference": f"demo-{member}"})
            self.phones[member] = Phone(api, member)
        self.say(f"   issuer key, {len(self.products)} products, {len(MEMBERS)} members with passes and wallets")
        self.say(f"== 22:30 a technician enrols {STORE}: 'cloud store create' -> 'agent enrol'")
        config = self.stack.enrol(STORE, self.devices(), self._pairing_code, self.root / "etc", self.data)
        self.say(f"   operator confirmed the pairing code; the agent wrote {config}")
        rita = {"id": "rita", "store_id": STORE, "name": "Rita", "role": "restocker", "card": RESTOCKER_BADGE}
        api.post("/staff", rita)
        self.say("   the operator issues a restocker's badge (hashed for the store, synced on the staff channel)")
        self.agent = self.stack.start_agent(config)
        wait_for(lambda: self._online() and self._synced(), 90, "the agent online with its downlink applied")
        self.say("   agent running: online, keys, revocations and catalog applied")

    def _pairing_code(self) -> str | None:
        code = self.checkout.pairing_code()
        if code:
            self.say(f"   checkout screen shows: Pairing code {code[:3]} {code[3:]}")
        return code

    def _online(self) -> bool:
        return bool(self.stack.scalar("SELECT online FROM stores WHERE id = :s", s=STORE))

    def _synced(self) -> bool:
        versions = {r[0]: r[1] for r in self.stack.rows("SELECT channel, version FROM sync_channels")}
        return all(self.stack.synced_version(STORE, ch) >= v for ch, v in versions.items() if ch != "coupons")

    # ------------------------------------------------------------------ the door

    def entries(self) -> int:
        """Return how many door decisions the cloud holds."""
        return int(self.stack.scalar("SELECT count(*) FROM entries WHERE store_id = :s", s=STORE) or 0)

    def door(self, code: str, *, online: bool = True) -> str:
        """Show a code at the door's scanner; return the decision the cloud recorded (offline: the relay's)."""
        before = self.entries()
        relay_before = len(self.lcus.history)
        self.scanner.scan(code)
        if not online:  # the cloud cannot hear it now: watch the relay instead
            opened = self._until(lambda: len(self.lcus.history) > relay_before, 10)
            self.say(f"   door: {'unlocked' if opened else 'stays locked'} (decided offline)")
            return "granted" if opened else ""
        wait_for(lambda: self.entries() > before, 20, "the door's decision in the cloud")
        row = self.stack.rows(
            "SELECT granted, reason, member_id FROM entries WHERE store_id = :s ORDER BY ts DESC LIMIT 1", s=STORE
        )[0]
        result = "granted" if row[0] else str(row[1])
        self.say(f"   cloud <- entry {result} ({row[2] or 'unknown member'})")
        return result

    def pole_shop(self, member: str) -> bool:
        """Pay at the station without a touch screen: code, item, its barcode, then the printed pay code."""
        say, pole = self.say, self.pole
        product = next(p for p in self.products if p.barcodes and not p.sold_by_weight and p.unit_weight_g)
        say(f"-- {member} uses the second checkout: only a pole display and a scanner, no touch screen")
        sales = int(self.stack.scalar("SELECT count(*) FROM sales WHERE store_id = :s", s=STORE) or 0)
        pole.scan(self.phones[member].next_code())
        wait_for(lambda: "Welcome" in pole.display() or "TOTAL" in pole.display(), 15, "the pole display's welcome")
        pole.scale.model.place(float(product.unit_weight_g or 500.0), settle_s=0.2)
        wait_for(lambda: "scan" in pole.display().lower(), 15, "the pole display asking for a scan")
        pole.scan(product.barcodes[0])
        wait_for(lambda: product.name[:12] in pole.display(), 15, f"{product.name} on the pole display")
        say(f"   pole display: {pole.display()[:70]}")
        pole.pay()  # scans the PAY code printed on the station
        paid = self._until(
            lambda: int(self.stack.scalar("SELECT count(*) FROM sales WHERE store_id = :s", s=STORE) or 0) > sales, 30
        )
        say(f"   cloud <- sale at {POLE_STATION}, paid with the printed pay code" if paid else "   (no sale)")
        pole.scale.model.place(0.0, settle_s=0.1)  # the shopper takes the goods
        self.paid_without_touch += int(paid)
        return paid

    def walk_in(self, people: int = 1) -> None:
        """Open the door, let ``people`` walk in through the beams, close it."""
        self.io.walk_through(["in"] * people)
        self.io.wait_script(10)

    def walk_out(self) -> None:
        """Press the exit button and walk out through the beams."""
        self.io.set_input(1, True)
        time.sleep(0.2)
        self.io.set_input(1, False)
        self.io.walk_through(["out"])
        self.io.wait_script(10)

    def app_entry(self) -> None:
        """A new shopper joins in the phone app (headless Chromium) and shows its door code to the scanner."""
        from edge_agent.adapters.camera import decode_qr
        from smartstore.testing.phone_app import door_code_png

        self.say("-- ivan joins in the phone app, gets a pass on his phone, goes offline and shows the door code")
        try:
            png = door_code_png(self.stack.url, "ivan@example.com", self.stack.shopper_codes, STORE)
        except Exception as err:  # a browser that misbehaves must not end the night
            self.say(f"   phone app skipped: {str(err).splitlines()[0][:120]}")
            return
        if png is None:
            self.say("   phone app skipped: Chromium is not installed (make setup installs it)")
            return
        picture = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        codes = decode_qr(picture) if picture is not None else []
        if not codes:
            self.say("   phone app: the scanner could not read the code on the screenshot")
            return
        if self.door(codes[0]) == "granted":
            self.app_entries += 1
            self.walk_in()

    @staticmethod
    def _until(predicate: Callable[[], Any], timeout: float) -> bool:
        try:
            wait_for(predicate, timeout, "it", interval=0.05)
        except StackError:
            return False
        return True

    # ------------------------------------------------------------------ the operator

    def command(self, name: str, args: dict[str, Any], reason: str) -> dict[str, Any]:
        """Send an operator command through the API and wait for the store's reply the cloud recorded."""
        sent = self.stack.api.post(f"/stores/{STORE}/commands", {"name": name, "reason": reason, "args": args})
        cid = sent["correlation_id"]
        done = wait_for(
            lambda: (c := self.stack.api.get(f"/commands/{cid}"))["status"] != "sent" and c, 20, f"the reply to {name}"
        )
        latency = done.get("latency_ms")
        self.say(f"   cloud <- reply {name}: {done['status']}" + (f" in {latency:.0f} ms" if latency else ""))
        return dict(done)

    def revoke(self, member: str) -> float:
        """Revoke ``member`` through the API; return ms until the store reported the new revocation list."""
        before = self.stack.synced_version(STORE, "revocations")
        start = time.monotonic()
        self.stack.api.post(f"/members/{member}/revoke", {"reason": "lost phone reported"})
        wait_for(lambda: self.stack.synced_version(STORE, "revocations") > before, 30, "the store's sync_applied")
        return (time.monotonic() - start) * 1000

    def staff_resolve(self) -> None:
        """Clear the checkout's hold remotely (the ``resolve_review`` command)."""
        self.command(
            "resolve_review",
            {"station_id": STATION, "product_id": None, "quantity": None},
            "checked the store camera: she took back her own bag",
        )

    # ------------------------------------------------------------------ the night

    def run(self) -> None:
        """Play the night."""
        say, phones = self.say, self.phones
        say(f"== 23:00 night mode at {STORE}; door locked")
        self.app_entry()
        say("-- alice scans her phone at the door")
        alice_code = phones["alice"].code()
        self.door(alice_code)
        self.walk_in()
        say("-- bob scans his phone")
        self.door(phones["bob"].code())
        self.walk_in()
        say("-- alice passes her phone back out through the door; a friend shows her next code")
        self.door(phones["alice"].code(at=time.time() + 15))
        say("-- someone replays a screenshot of alice's code")
        self.door(alice_code)
        say("-- a forged code (alice's pass with a bad phone signature)")
        self.door(alice_code[:-8] + ("AAAAAAAA" if not alice_code.endswith("AAAAAAAA") else "BBBBBBBB"))
        say("-- a code made for another store, an old screenshot, and a stranger's issuer")
        self.door(phones["bob"].code(store="store-002"))
        self.door(phones["frank"].code(at=time.time() - 120))
        self.door(_stranger_code())
        say("-- a QR that is not a member code, and line noise on the scanner")
        self.door("https://example.com/promo")
        self.scanner.inject(b"\x00\xff\x13garbage\xfe\r\n")
        time.sleep(0.5)
        say("-- the operator revokes carol (API); she tries anyway")
        self.revocation_ms = self.revoke("carol")
        say(f"   revocation reached the store in {self.revocation_ms:.0f} ms (API call -> its sync_applied in the DB)")
        self.door(phones["carol"].code())
        say("-- dave's basic tier may only enter at set hours")
        self.door(phones["dave"].code())

        say("== 00:40 shoppers at the self-checkout (paid from their wallets by the cloud)")
        juice = self.checkout.products[ITEMS["juice"]]
        basket = self.checkout.shop(
            say, "alice", phones["alice"].next_code(), ["juice", "milk"], lift_g=300.0, staff=self.staff_resolve
        )
        self.price_seen["before"] = basket.lines[0]
        new_price = max(100, (juice.price_cents or 0) - 300)
        effective = datetime.now(UTC) + timedelta(seconds=4)
        catalog_before = self.stack.synced_version(STORE, "catalog")
        self.stack.api.post(
            f"/products/{juice.id}/prices", {"price_cents": new_price, "effective_from": effective.isoformat()}
        )
        wait_for(lambda: self.stack.synced_version(STORE, "catalog") > catalog_before, 30, "the catalog at the store")
        say(f"-- the operator schedules {juice.name} at {new_price / 100:.2f} from {effective:%H:%M:%S} UTC")

        say("== 01:30 the broker restarts; frank arrives while it is down")
        self.stack.broker.stop()
        self.door(phones["frank"].code(), online=False)
        self.walk_in()
        wait_for(lambda: datetime.now(UTC) > effective, 10, "the new price's time")
        say("-- frank pays while the cloud is unreachable (offline, within his floor limit); the new price applies")
        basket = self.checkout.shop(say, "frank", phones["frank"].next_code(), ["juice"])
        self.price_seen["after"] = basket.lines[0]
        self.stack.broker.start()
        say("   broker back")
        wait_for(self.delivered, 60, "the events written while the broker was down in the cloud")
        say(f"   the cloud now holds all {self.written()} events the agent wrote, the offline ones included")

        say("-- grace comes in, and a stranger slips in behind her on the same opening (tailgating)")
        self.door(phones["grace"].code())
        self.walk_in(people=2)
        wait_for(lambda: self._alarm_active("tailgating"), 20, "the tailgating alarm in the cloud")
        say("   cloud <- alarm tailgating (2 in on 1 grant: 1 unidentified inside)")
        say("-- the store is now at its cap of 5; heidi must wait")
        self.door(phones["heidi"].code())
        self.checkout.shop(say, "bob", phones["bob"].next_code(), ["juice"])
        self.pole_shop("grace")
        say("-- bob leaves with the exit button (free egress)")
        self.walk_out()
        say("-- the stranger walks out again")
        self.walk_out()
        inside = 3 + self.app_entries  # alice, frank, grace (and ivan)
        say(f"-- the operator counts {inside} heads on camera 1 and sets the count (the tailgating alarm stays raised)")
        self.command("reset_occupancy", {"count": inside}, "head count on camera 1")
        say("-- a door is pried open while locked, and left open")
        time.sleep(1.2)
        self.io.set_input(0, True)
        wait_for(lambda: self._alarm_active("door_held_open"), 15, "the held-open alarm in the cloud")
        self.io.set_input(0, False)
        for alarm in self.stack.api.get(f"/alarms?store_id={STORE}")["items"]:
            acked = self.stack.api.post(
                "/alarms/acknowledge", {"store_id": STORE, "alarm": alarm["alarm"], "source": alarm["source"]}
            )
            say(f"   operator acknowledged {alarm['alarm']} ({acked.get('acknowledged_by')})")
        say("-- the operator unlocks remotely, then locks the store down, then lifts it")
        self.command("unlock", {"duration_s": 1}, "delivery driver at the door")
        self.command("lockdown", {"active": True}, "police asked us to close")
        self.door(phones["heidi"].code(at=time.time() + 15))
        self.command("lockdown", {"active": False}, "all clear")
        say("== 04:30 rita the restocker badges in: a staff entry, not a shopper")
        before = self.entries()
        present_card(self.badges, RESTOCKER_BADGE)
        wait_for(lambda: self.entries() > before, 20, "the staff entry in the cloud")
        self.walk_in()
        say(f"   cloud <- entry granted (staff {self.stack.scalar(_LAST_VIA, s=STORE)})")
        say("-- someone tries a badge the store does not know")
        before = self.entries()
        present_card(self.badges, "99:4242")
        wait_for(lambda: self.entries() > before, 20, "the refused badge in the cloud")
        say("   cloud <- entry unknown_credential")
        say("-- the lock relay's USB cable is pulled and plugged back")
        self.hosts[0].unplug()
        wait_for(lambda: self._alarm_active("device_offline"), 30, "the lock's device_offline alarm in the cloud")
        say("   cloud <- alarm device_offline (lock)")
        self.hosts[0].replug()
        wait_for(lambda: not self._alarm_active("device_offline"), 30, "the lock back online in the cloud")
        say("   cloud <- alarm cleared: the lock is back")

    def _alarm_active(self, alarm: str) -> bool:
        sql = "SELECT count(*) FROM alarms WHERE store_id = :s AND alarm = :a AND active"
        return bool(self.stack.scalar(sql, s=STORE, a=alarm))

    # ------------------------------------------------------------------ the end

    def written(self) -> int:
        """Return the highest sequence number the agent's outbox has allocated (events 1..N)."""
        path = self.data / "outbox.db"
        if not path.exists():
            return 0
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(row[0]) if row else 0

    def delivered(self) -> bool:
        """Return whether the cloud holds every event the agent has written so far."""
        return self.stack.event_seqs(STORE) >= set(range(1, self.written() + 1))

    def finish(self) -> dict[str, Any]:
        """Let the agent deliver everything, stop it, and compare its outbox with the cloud database."""
        stack = self.stack
        try:
            wait_for(self.delivered, 60, "every event in the cloud")
        except StackError as err:
            self.say(f"   {err}")
        if self.agent is not None:
            stack.stop_agent(self.agent)
            self.agent = None
        written = self.written()
        held = stack.event_seqs(STORE)
        count = lambda sql: int(stack.scalar(sql, s=STORE) or 0)  # noqa: E731
        denied = Counter(
            str(r[0]) for r in stack.rows("SELECT reason FROM entries WHERE store_id = :s AND NOT granted", s=STORE)
        )
        commands = stack.rows(
            "SELECT correlation_id, name, status, latency_ms FROM operator_commands WHERE store_id = :s "
            "ORDER BY issued_at",
            s=STORE,
        )
        replies = [
            {"name": str(r[1]), "status": str(r[2]), "latency_ms": None if r[3] is None else round(float(r[3]))}
            for r in commands
        ]
        lost = len(set(range(1, written + 1)) - held)
        dead = int(stack.scalar("SELECT count(*) FROM dead_letters") or 0)
        member_entry = "FROM entries WHERE store_id = :s AND granted AND member_id IS"
        return {
            "ok": lost == 0 and dead == 0 and bool(replies) and all(r["status"] == "ok" for r in replies),
            "granted": count(f"SELECT count(*) {member_entry} NOT NULL"),
            "remote_unlocks": count("SELECT count(*) FROM entries WHERE store_id = :s AND granted AND via = 'remote'"),
            "denied": dict(sorted(denied.items())),
            "entries": count("SELECT count(*) FROM entries WHERE store_id = :s"),
            "alarms": sorted({str(r[0]) for r in stack.rows("SELECT alarm FROM alarms WHERE store_id = :s", s=STORE)}),
            "alarms_acknowledged": count(
                "SELECT count(*) FROM alarms WHERE store_id = :s AND acknowledged_by IS NOT NULL"
            ),
            "alerts": count("SELECT count(*) FROM alerts WHERE store_id = :s"),
            "dead_letters": dead,
            "sales": count("SELECT count(*) FROM sales WHERE store_id = :s"),
            "offline_sales": count("SELECT count(*) FROM sales WHERE store_id = :s AND payment_mode = 'offline'"),
            "revenue": count("SELECT coalesce(sum(total_cents), 0) FROM sales WHERE store_id = :s") / 100,
            "payments": dict(
                sorted(
                    (str(r[0]), int(r[1]))
                    for r in stack.rows(
                        "SELECT status, count(*) FROM payments WHERE store_id = :s GROUP BY status", s=STORE
                    )
                )
            ),
            "events_written": written,
            "events_in_cloud": len(held),
            "lost": lost,
            "broker_restarts": 1,
            "relay_frames": len(self.lcus.history),
            "revocation_ms": round(self.revocation_ms or 0.0),
            "revocation_measured": "API call until the store's sync_applied (revocations) is in the cloud DB",
            "price_seen": self.price_seen,
            "baskets": len(self.checkout.baskets),
            "app_entries": self.app_entries,
            "paid_without_touch": self.paid_without_touch,
            "staff_entries": count("SELECT count(*) FROM entries WHERE store_id = :s AND granted AND via = 'staff'"),
            "reviews_resolved": sum(1 for r in replies if r["name"] == "resolve_review" and r["status"] == "ok"),
            "command_replies": replies,
        }

    def stop(self) -> None:
        """Stop the simulators."""
        for h in self.hosts:
            h.stop()
        self.checkout.stop()
        self.pole.stop()


_LAST_VIA = "SELECT via FROM entries WHERE store_id = :s ORDER BY ts DESC LIMIT 1"


def _stranger_code() -> str:
    """Return a code whose pass a key the store does not trust signed."""
    from contracts.member_code import IssuerKey

    phone = PhoneKey.generate()
    signed = IssuerKey.generate().issue_pass(
        member_id="mallory", tier="standard", phone_key=phone.public_raw, now=time.time() - 60
    )
    return phone.show_code(signed, store_id=STORE, now=time.time())


def run_demo(
    *,
    quiet: bool = False,
    workdir: str | None = None,
    keep_running: bool = False,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Run the night and return the summary (``keep_running``: leave the system up until Ctrl-C).

    Raises:
        StackError: a step failed (one line); everything started is stopped first.
    """
    say: Say = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    root = Path(workdir).resolve() if workdir else Path(tempfile.mkdtemp(prefix="smartstore-demo-"))
    if workdir and root.exists() and any(root.iterdir()):
        if not (root / "cloud" / "mosquitto").is_dir():
            raise StackError(f"--workdir {root} is not empty and not an earlier demo's: give a new directory")
        shutil.rmtree(root)  # an earlier night's files
    root.mkdir(parents=True, exist_ok=True)
    stack = Stack(root / "cloud", database_url=database_url)
    night: Night | None = None
    try:
        say("== starting the cloud: private Mosquitto with logins, database, 'cloud serve', 'cloud ingest'")
        stack.start()
        say(f"   dashboard at {stack.url}/ (logs in {stack.root})")
        night = Night(stack, say, root)
        night.set_up()
        night.run()
        if keep_running:
            _keep_running(stack)
        summary = night.finish()
    except ApiError as err:
        raise StackError(f"the cloud API refused a step: {err}") from None
    finally:
        with signals_deferred():
            stack.close()
            if night is not None:
                night.stop()
            if not workdir:
                shutil.rmtree(root, ignore_errors=True)
    return summary


def _keep_running(stack: Stack) -> None:
    """Print how to reach the running system and wait for Ctrl-C."""
    token = stack.api.token
    print(f"the system stays up: dashboard {stack.url}/  operator token {token}", flush=True)
    print(f"  the shoppers' phone app: {stack.url}/app/ (one-time codes land in {stack.shopper_codes})", flush=True)
    print(f"  e.g. curl -H 'Authorization: Bearer {token}' {stack.url}/api/v1/stores/{STORE}", flush=True)
    print("  press Ctrl-C to stop everything", flush=True)
    try:
        while not INTERRUPTED.wait(1):
            pass
    except KeyboardInterrupt:  # outside the demo's own signal handling
        pass
    INTERRUPTED.clear()  # Ctrl-C here means "stop and report", not "abandon the summary"
    print("stopping", flush=True)
