"""The self-checkout part of the demo night: a simulated scale, touch screen and scanner on ptys.

The checkout camera is played by the demo: it shows the product model a real validation photo of
the item on the scale (from ``../shared/data/grocery-store``); without the dataset or the model
the checkout runs barcode-only, which is its degraded mode.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from contracts.sync import CatalogProduct, CatalogSnapshot
from devices.mtsics.simulator import MtSicsSimulator
from devices.nextion.simulator import NextionSimulator
from devices.pty import PtySimulatorHost
from devices.scanner.simulator import ScannerSimulator
from edge_agent.adapters.vision import EvidenceProvider
from edge_agent.bootstrap import RunningAgent
from edge_agent.domain.catalog import Product
from edge_agent.domain.checkout import Abandon
from models.labels import default_data_dir
from smartstore.grocery import build_catalog

log = logging.getLogger(__name__)
DATA = default_data_dir()
STATION = "co1"
# What the demo shoppers buy: a kind of item -> the dataset class whose photo the camera sees.
ITEMS = {"milk": "Arla-Standard-Milk", "apples": "Granny-Smith", "juice": "Bravo-Apple-Juice"}


def _to_sync(p: Product) -> CatalogProduct:
    return CatalogProduct(
        id=p.id,
        name=p.name,
        barcodes=list(p.barcodes),
        unit_weight_g=p.unit_weight_g,
        weight_tolerance_g=p.weight_tolerance_g,
        sold_by_weight=p.sold_by_weight,
        price_cents=p.price_cents if not p.sold_by_weight else None,
        price_per_kg_cents=p.price_per_kg_cents,
    )


class CheckoutSims:
    """The checkout station's simulated hardware and a scripted shopper."""

    def __init__(self, root: Path) -> None:
        """Start the scale, screen and scanner simulators."""
        self.scale = MtSicsSimulator()
        self.screen = NextionSimulator()
        self.scanner = ScannerSimulator()
        self.hosts = [
            PtySimulatorHost(self.scale, root / "tty-co-scale").start(),
            PtySimulatorHost(self.screen, root / "tty-co-screen").start(),
            PtySimulatorHost(self.scanner, root / "tty-co-scanner").start(),
        ]
        self.has_data = (DATA / "classes.csv").exists()
        self.products: dict[str, Product] = {}
        self.photos: dict[str, np.ndarray] = {}
        if self.has_data:
            catalog, _ = build_catalog(DATA)
            self.products = {p.id: p for p in catalog}
            for kind, cls in ITEMS.items():
                line = next(ln for ln in (DATA / "val.txt").read_text().splitlines() if f"/{cls}/" in ln)
                image = cv2.imread(str(DATA / line.split(",")[0].strip()))
                if image is not None:
                    self.photos[kind] = image
        self.current: np.ndarray | None = None
        self.running: RunningAgent | None = None
        self.baskets = 0

    def settings(self) -> dict[str, Any]:
        """Return the agent's checkout settings."""
        return {
            "stations": [
                {
                    "station_id": STATION,
                    "scale": {"type": "mtsics", "url": self.hosts[0].path},
                    "screen": {"type": "nextion", "url": self.hosts[1].path},
                    "scanner": {"url": self.hosts[2].path},
                }
            ],
            "model": "shipped" if self.has_data else None,
            "floor_limit_cents": 2500,
            "auth_timeout_s": 2.0,
        }

    def attach(self, running: RunningAgent) -> None:
        """Give the station its (demo) camera: the photo of the item on the scale."""
        self.running = running
        parts = running.checkout
        if parts is not None and parts.io is not None and parts.recognizer is not None:
            parts.evidence = parts.io.evidence = EvidenceProvider(
                lambda sid: self.current, parts.recognizer, running.agent.submit_station
            )

    def catalog_snapshot(self) -> CatalogSnapshot:
        """Return the catalog the cloud pushes to the store."""
        fallback = [
            Product(id=cls, name=kind, price_cents=1999, barcodes=(), unit_weight_g=1000) for kind, cls in ITEMS.items()
        ]
        products = list(self.products.values()) or fallback
        return CatalogSnapshot(version=1, products=[_to_sync(p) for p in products])

    def shop(self, say: Any, member: str, code: str, items: list[tuple[str, Any]]) -> None:
        """Play one shopper: show the member code, put items on the scale, answer, pay."""
        assert self.running is not None
        self.baskets += 1
        say(f"-- {member} at the self-checkout")
        self.scanner.scan(code)
        time.sleep(0.6)
        total = 0.0
        for n, (kind, _) in enumerate(items, start=1):
            product = self.products.get(ITEMS[kind])
            grams = (product.unit_weight_g or 640.0) if product else 1000.0
            if product is not None and product.sold_by_weight:
                grams = 640.0
            self.current = self.photos.get(kind)
            total += grams
            self.scale.model.place(total, settle_s=0.2)
            self._answer(say, kind, product, n)
        self.screen.touch("t4")  # Pay
        outcome = self._wait_text(("Paid", "declined", "limit", "refused"), 8)
        say(f"   screen: {outcome}")
        if "Paid" not in outcome:
            self.running.agent.submit_station(STATION, Abandon())  # the shopper walks away
            time.sleep(0.5)
        self.scale.model.place(0.0, settle_s=0.1)
        time.sleep(1.5)

    def _answer(self, say: Any, kind: str, product: Product | None, n: int) -> None:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            page = self.screen.page.name
            if page == "basket" and int(self.screen.value("n0", "val", page="basket") or 0) >= n:
                shown = [str(self.screen.value(t, page="basket") or "") for t in ("t0", "t1", "t2")]
                say(f"   screen: {[line for line in shown if line][-1]}")
                return
            if page == "choices":
                names = [str(self.screen.value(b, page="choices") or "") for b in ("b0", "b1", "b2")]
                want = product.name if product else ""
                say(f"   screen asks: {names}")
                self.screen.touch(f"b{names.index(want)}" if want in names else "b0")
                time.sleep(0.5)
                continue
            text = str(self.screen.value("t0", page="home") or "")
            if "scan" in text.lower() and product is not None and product.barcodes:
                say(f"   screen: {text} -> scans the barcode")
                self.scanner.scan(product.barcodes[0])
                time.sleep(0.8)
                continue
            time.sleep(0.1)
        say("   (item not confirmed in time)")

    def _wait_text(self, needles: tuple[str, ...], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = f"{self.screen.value('t0', page='home') or ''} {self.screen.value('t1', page='home') or ''}".strip()
            if any(n.lower() in text.lower() for n in needles):
                return text
            time.sleep(0.1)
        return text

    def stop(self) -> None:
        """Stop the simulators."""
        for h in self.hosts:
            h.stop()
