"""The night's traffic of the chaos set test: simulated door and checkout hardware, and the shoppers.

The door scanner is fed ~10–14 member codes a second (mostly valid, some garbage, some for another
store); one self-checkout station (MT-SICS scale, Nextion screen, scanner) is played by members who
show their code, put an item on the scale, scan its barcode and pay from their wallet. Everything
here runs in the chaos runner's process; the agent reaches the devices through their ptys.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.member_code import IssuerKey, PhoneKey, encode_public_keys
from contracts.sync import CatalogProduct, CatalogSnapshot
from devices.lcus.simulator import LcusSimulator
from devices.modbus.simulator import ModbusSimulator
from devices.mtsics.simulator import MtSicsSimulator
from devices.nextion.simulator import NextionSimulator
from devices.pty import PtySimulatorHost
from devices.scanner.simulator import ScannerSimulator
from smartstore.testing.signing import pin

STORE = "chaos-store"
STATION = "co1"
SHOPPERS = [f"chaos-m{i:03d}" for i in range(40)]  # members with a wallet in the cloud database
PRODUCTS = [
    CatalogProduct(
        id="milk",
        name="Milk 1 l",
        barcodes=["4006381333931"],
        unit_weight_g=1040,
        weight_tolerance_g=20,
        price_cents=129,
    ),
    CatalogProduct(
        id="juice",
        name="Apple juice",
        barcodes=["7310865004703"],
        unit_weight_g=1100,
        weight_tolerance_g=20,
        price_cents=249,
    ),
    CatalogProduct(
        id="bread",
        name="Rye bread",
        barcodes=["7311070347272"],
        unit_weight_g=500,
        weight_tolerance_g=20,
        price_cents=319,
    ),
]


def catalog_snapshot() -> CatalogSnapshot:
    """Return the catalog the chaos runner publishes (retained) for the store."""
    return CatalogSnapshot(version=1, products=PRODUCTS)


@dataclass
class Members:
    """An issuer and its members' phones: real signed member codes (as the cloud issues them)."""

    issuer: IssuerKey = field(default_factory=IssuerKey.generate)
    phones: dict[str, tuple[PhoneKey, bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def write_keys(self, path: Path) -> Path:
        """Write the issuer key set the store trusts."""
        path.write_text(json.dumps(encode_public_keys({self.issuer.kid: self.issuer.public_raw})))
        return path

    def code(self, member: str, *, store: str = STORE) -> str:
        """Return a fresh code of ``member`` for ``store``."""
        now = time.time()
        with self.lock:
            if member not in self.phones:
                phone = PhoneKey.generate()
                signed = self.issuer.issue_pass(
                    member_id=member, tier="standard", phone_key=phone.public_raw, now=now - 60, valid_s=24 * 3600
                )
                self.phones[member] = (phone, signed)
            phone, signed = self.phones[member]
        return phone.show_code(signed, store_id=store, now=now)


class Hardware:
    """The store's simulated devices on ptys with stable paths (they outlive agent restarts)."""

    def __init__(self, root: Path) -> None:
        """Start the door (relay, IO, scanner) and checkout (scale, screen, scanner) simulators."""
        self.lcus, self.io, self.door_scanner = LcusSimulator(), ModbusSimulator(), ScannerSimulator()
        self.scale, self.screen, self.co_scanner = MtSicsSimulator(), NextionSimulator(), ScannerSimulator()
        self.hosts: dict[str, PtySimulatorHost] = {}
        for name, sim in (
            ("lock", self.lcus),
            ("io", self.io),
            ("scanner", self.door_scanner),
            ("scale", self.scale),
            ("screen", self.screen),
            ("co-scanner", self.co_scanner),
        ):
            self.hosts[name] = PtySimulatorHost(sim, root / f"tty-{name}").start()

    def path(self, name: str) -> str:
        """Return the pty path of device ``name``."""
        return str(self.hosts[name].path)

    def stop(self) -> None:
        """Stop every simulator."""
        for host in self.hosts.values():
            host.stop()


def agent_settings(
    hw: Hardware, *, data_dir: Path, keys: Path, mqtt_port: int, checkout: bool, login: tuple[str, str] | None = None
) -> dict[str, Any]:
    """Return the agent's settings (TOML-shaped) for the simulated store (``login``: its broker login)."""
    settings: dict[str, Any] = {
        "store_id": STORE,
        "data_dir": str(data_dir),
        "issuer_keys_file": str(keys),
        "downlink_keys_file": str(pin(keys.parent / "downlink-keys.json")),
        # every code is a new walk-in: no occupancy cap or anti-passback in the way of the traffic
        "door": {"unlock_s": 0.5, "held_open_s": 5.0, "occupancy_cap": 1_000_000, "passback_s": 0},
        "lock": {"type": "lcus", "url": hw.path("lock")},
        "inputs": {"url": hw.path("io")},
        "scanner": {"url": hw.path("scanner")},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "keepalive": 5},
    }
    if login is not None:
        settings["mqtt"] |= {"username": login[0], "password": login[1]}
    if checkout:
        settings["checkout"] = {
            "stations": [
                {
                    "station_id": STATION,
                    "scale": {"type": "mtsics", "url": hw.path("scale")},
                    "screen": {"type": "nextion", "url": hw.path("screen")},
                    "scanner": {"url": hw.path("co-scanner")},
                }
            ],
            # No product model: the station asks for the barcode (a missing model file means barcode-only).
            "model": str(data_dir.parent / "no-model.onnx"),
            "floor_limit_cents": 5000,
            "auth_timeout_s": 2.0,
        }
    return settings


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_toml(settings: dict[str, Any], path: Path) -> Path:
    """Write a settings dict as TOML: top-level dicts become tables, deeper ones inline tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in settings.items() if v is not None and not isinstance(v, dict)]
    for name, table in settings.items():
        if isinstance(table, dict):
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None)
    path.write_text("\n".join(lines) + "\n")
    return path


class DoorTraffic(threading.Thread):
    """Feeds the door scanner ~10–14 codes a second until stopped."""

    def __init__(self, hw: Hardware, members: Members, rng: random.Random) -> None:
        """Prepare (not start) the feeder."""
        super().__init__(name="chaos-door", daemon=True)
        self.hw, self.members, self.rng = hw, members, rng
        self.stop_event = threading.Event()
        self.scans = {"valid": 0, "garbage": 0, "other_store": 0}

    def run(self) -> None:
        """Scan codes at a jittered rate."""
        n = 0
        while not self.stop_event.is_set():
            roll = self.rng.random()
            if roll < 0.85:
                code, kind = self.members.code(f"chaos-d{self.rng.randrange(5000):05d}"), "valid"
            elif roll < 0.93:
                code, kind = f"garbage-{n}-{self.rng.getrandbits(32):08x}", "garbage"
            else:
                member = f"chaos-d{self.rng.randrange(5000):05d}"
                code, kind = self.members.code(member, store="elsewhere"), "other_store"
            self.hw.door_scanner.scan(code)
            self.scans[kind] += 1
            n += 1
            self.stop_event.wait(1.0 / self.rng.uniform(10.0, 14.0))

    def stop(self) -> None:
        """Stop feeding and wait for the thread."""
        self.stop_event.set()
        self.join(timeout=5)


class Shoppers(threading.Thread):
    """Plays members at the self-checkout: code, item on the scale, barcode, Pay, item off."""

    def __init__(self, hw: Hardware, members: Members, rng: random.Random) -> None:
        """Prepare (not start) the shoppers."""
        super().__init__(name="chaos-checkout", daemon=True)
        self.hw, self.members, self.rng = hw, members, rng
        self.stop_event = threading.Event()
        self.outcomes: dict[str, int] = {}

    def _wait(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop_event.is_set():
            try:
                if predicate():
                    return True
            except (KeyError, ValueError, TypeError):
                pass
            time.sleep(0.05)
        return False

    def _home(self) -> str:
        screen = self.hw.screen
        return f"{screen.value('t0', page='home') or ''} {screen.value('t1', page='home') or ''}"

    def shop_once(self) -> str:
        """Play one basket; return how it ended (paid, declined, or the step it got stuck at)."""
        hw = self.hw
        product = self.rng.choice(PRODUCTS)
        hw.co_scanner.scan(self.members.code(self.rng.choice(SHOPPERS)))
        if not self._wait(lambda: hw.screen.page.name == "basket" or "scan" in self._home().lower(), 4):
            return "no_session"
        hw.scale.model.place(float(product.unit_weight_g or 500) + self.rng.uniform(-5, 5), settle_s=0.2)
        if not self._wait(lambda: "scan" in self._home().lower(), 5):
            return "no_scan_prompt"
        hw.co_scanner.scan(product.barcodes[0])
        if not self._wait(lambda: product.name in str(hw.screen.value("t0", page="basket") or ""), 5):
            return "item_not_confirmed"
        try:
            hw.screen.touch("t4")  # Pay
        except KeyError:  # the basket page went away (the agent restarted): no Pay button to press
            return "basket_gone_before_pay"
        if not self._wait(lambda: any(w in self._home().lower() for w in ("paid", "declined", "limit", "refused")), 8):
            return "no_payment_outcome"
        return "paid" if "paid" in self._home().lower() else "declined"

    def run(self) -> None:
        """Shop until stopped; a stuck basket is left (item off the scale) and the next one starts."""
        while not self.stop_event.is_set():
            try:
                outcome = self.shop_once()
            except Exception as err:  # a simulator hiccup must not end the night's traffic
                outcome = f"error:{type(err).__name__}"
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            self.hw.scale.model.place(0.0, settle_s=0.1)
            self.stop_event.wait(self.rng.uniform(1.0, 2.5))

    def stop(self) -> None:
        """Stop shopping and wait for the thread."""
        self.stop_event.set()
        self.join(timeout=15)
