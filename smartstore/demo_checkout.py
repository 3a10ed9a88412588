"""The self-checkout part of the demo night: a simulated scale, touch screen, scanner and camera.

The catalog and the camera's photos come from the grocery-store dataset (``$SMARTSTORE_PHOTOS``,
else ``$SMARTSTORE_DATA``, else ``shared/data/grocery-store`` beside the repository, found from this
package's own path). The camera is an MJPEG stream the agent opens like a network camera; it shows
a real validation photo of the item on the scale to the product model. Without the dataset the
demo uses three built-in products and no camera: a barcode-only checkout, its degraded mode.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from devices.mtsics.simulator import MtSicsSimulator
from devices.nextion.simulator import NextionSimulator
from devices.pty import PtySimulatorHost
from devices.scanner.simulator import ScannerSimulator
from edge_agent.domain.catalog import Product
from models.labels import default_data_dir
from smartstore.demo_camera import PhotoCamera
from smartstore.grocery import build_catalog
from smartstore.stack import INTERRUPTED

STATION = "co1"
# What the demo shoppers buy: a kind of item -> the dataset class (the product id in the cloud).
ITEMS = {"milk": "Arla-Standard-Milk", "juice": "Bravo-Apple-Juice"}
FALLBACK = [
    Product(id=ITEMS["milk"], name="Arla Standard Milk", price_cents=1590, barcodes=("7300000000011",),
            unit_weight_g=1030.0, weight_tolerance_g=15.0),
    Product(id=ITEMS["juice"], name="Bravo Apple Juice", price_cents=1790, barcodes=("7300000000028",),
            unit_weight_g=1050.0, weight_tolerance_g=15.0),
]  # fmt: skip
Say = Callable[[str], None]


def photos_dir() -> Path:
    """Return where the grocery-store dataset is: ``$SMARTSTORE_PHOTOS``, else the models' default."""
    env = os.environ.get("SMARTSTORE_PHOTOS")
    return Path(env) if env else default_data_dir()


def load_products(say: Say) -> tuple[list[Product], dict[str, np.ndarray]]:
    """Return the dataset's catalog and a photo per demo item, or the built-in products and no photos."""
    data = photos_dir()
    try:
        catalog, _ = build_catalog(data)
        products = list(catalog)
        listing = (data / "val.txt").read_text().splitlines()
        photos: dict[str, np.ndarray] = {}
        for kind, cls in ITEMS.items():
            line = next(ln for ln in listing if f"/{cls}/" in ln)
            image = cv2.imread(str(data / line.split(",")[0].strip()))
            if image is None:
                raise OSError(f"unreadable photo {line.split(',')[0]}")
            photos[kind] = image
        if not all(any(p.id == wanted for p in products) for wanted in ITEMS.values()):
            raise KeyError("the demo's products are not in the dataset")
    except (OSError, KeyError, ValueError, StopIteration) as err:
        say(f"   (no grocery-store photos at {data} ({err.__class__.__name__}); set SMARTSTORE_PHOTOS; "
            "barcode-only checkout with three built-in products)")  # fmt: skip
        return list(FALLBACK), {}
    return products, photos


def product_body(p: Product) -> dict[str, Any]:
    """Return the cloud API's ``ProductIn`` body of a product."""
    body: dict[str, Any] = {"id": p.id, "name": p.name, "barcodes": list(p.barcodes)}
    if p.sold_by_weight:
        body |= {"sold_by_weight": True, "price_per_kg_cents": p.price_per_kg_cents}
    else:
        body |= {"price_cents": p.price_cents, "unit_weight_g": p.unit_weight_g}
        if p.weight_tolerance_g is not None:
            body["weight_tolerance_g"] = p.weight_tolerance_g
    return body


@dataclass
class Basket:
    """What one shopper saw at the checkout."""

    member: str
    lines: list[str]
    outcome: str

    @property
    def paid(self) -> bool:
        """Return whether the screen said the basket was paid."""
        return self.outcome.startswith("Paid")


class CheckoutSims:
    """The checkout station's simulated hardware and a scripted shopper."""

    def __init__(self, root: Path, products: list[Product], photos: dict[str, np.ndarray] | None = None) -> None:
        """Start the scale, screen and scanner simulators, and the camera when there are ``photos``."""
        self.scale = MtSicsSimulator()
        self.screen = NextionSimulator()
        self.scanner = ScannerSimulator()
        self.hosts = [
            PtySimulatorHost(self.scale, root / "tty-co-scale").start(),
            PtySimulatorHost(self.screen, root / "tty-co-screen").start(),
            PtySimulatorHost(self.scanner, root / "tty-co-scanner").start(),
        ]
        self.products = {p.id: p for p in products}
        self.photos = photos or {}
        self.camera = PhotoCamera() if self.photos else None
        self.baskets: list[Basket] = []

    def devices(self) -> dict[str, Any]:
        """Return the ``checkout`` section of the store's devices file."""
        station: dict[str, Any] = {
            "station_id": STATION,
            "scale": {"type": "mtsics", "url": str(self.hosts[0].path)},
            "screen": {"type": "nextion", "url": str(self.hosts[1].path)},
            "scanner": {"url": str(self.hosts[2].path)},
        }
        if self.camera is not None:
            station["camera"] = {"source": self.camera.url}
        return {
            "stations": [station],
            "floor_limit_cents": 2500,
            "auth_timeout_s": 3.0,
        }

    def message(self) -> str:
        """Return the two text lines of the screen's message page."""
        return f"{self.screen.value('t0', page='home') or ''} {self.screen.value('t1', page='home') or ''}".strip()

    def pairing_code(self) -> str | None:
        """Return the pairing code ``agent enrol`` shows on the screen, if it shows one."""
        text = str(self.screen.value("t0", page="home") or "")
        return text.removeprefix("Pairing code").replace(" ", "") if text.startswith("Pairing code") else None

    def grams(self, kind: str) -> float:
        """Return what one item of ``kind`` weighs on the scale."""
        product = self.products[ITEMS[kind]]
        return 640.0 if product.sold_by_weight else float(product.unit_weight_g or 500.0)

    def shop(
        self,
        say: Say,
        member: str,
        code: str,
        items: list[str],
        *,
        lift_g: float = 0.0,
        staff: Callable[[], None] | None = None,
    ) -> Basket:
        """Play one shopper: show the member code, put items on the scale, scan them, pay.

        ``lift_g``: then take that much off the scale, matching no item: the station holds the sale
        for staff, and ``staff()`` resolves it remotely (the ``resolve_review`` command).
        """
        say(f"-- {member} at the self-checkout")
        self.scanner.scan(code)
        self._wait(lambda: self.screen.page.name == "basket", 8)
        total = 0.0
        lines: list[str] = []
        for n, kind in enumerate(items, start=1):
            product = self.products[ITEMS[kind]]
            total += self.grams(kind)
            if self.camera is not None:
                self.camera.show(self.photos.get(kind))
            self.scale.model.place(total, settle_s=0.2)
            counted = self._answer(say, product, n)
            line = self._last_line()
            lines.append(line)
            say(f"   screen: {line}" if counted else "   (item not confirmed in time)")
        if lift_g and staff is not None:
            say(f"   {member} takes {lift_g:g} g off the scale that matches no item in the basket")
            self.scale.model.place(total - lift_g, settle_s=0.2)
            self._wait(lambda: self._on_message_page() and "staff" in self.message(), 8)
            say(f"   screen: {self.message()}")
            staff()
        if self._wait(lambda: self.screen.page.name == "basket", 8):
            self.screen.touch("t4")  # Pay
            outcome = self._wait(lambda: self._outcome(), 12) or self.message()
        else:
            outcome = f"(no basket to pay: {self.message()})"
        say(f"   screen: {outcome}")
        basket = Basket(member, lines, outcome)
        self.baskets.append(basket)
        if basket.paid:
            self.scale.model.place(0.0, settle_s=0.1)  # the shopper takes the goods
            self._wait(lambda: self.screen.page.name == "home" and "Paid" not in self.message(), 5)
        return basket

    def _answer(self, say: Say, product: Product, n: int) -> bool:
        """Answer the screen until the basket counts ``n`` items: choose the product, or scan it."""
        deadline = time.monotonic() + 15
        scanned = False
        while time.monotonic() < deadline:
            if self._items() >= n:
                return True
            page = self.screen.page.name
            if page == "choices":
                names = [str(self.screen.value(b, page="choices") or "") for b in ("b0", "b1", "b2")]
                say(f"   screen asks: {[name for name in names if name]}")
                self.screen.touch(f"b{names.index(product.name)}" if product.name in names else "b0")
                self._wait(lambda: self.screen.page.name != "choices", 3)
            elif page == "home" and "barcode" in self.message() and not scanned and product.barcodes:
                say(f"   screen: {self.message()} -> scans the barcode")
                self.scanner.scan(product.barcodes[0])
                scanned = True
            time.sleep(0.05)
        return self._items() >= n

    def _on_message_page(self) -> bool:
        return bool(self.screen.page.name == "home")

    def _items(self) -> int:
        if self.screen.page.name != "basket":
            return 0
        return int(self.screen.value("n0", "val", page="basket") or 0)

    def _last_line(self) -> str:
        shown = [str(self.screen.value(t, page="basket") or "") for t in ("t0", "t1", "t2")]
        return next((line for line in reversed(shown) if line), "")

    def _outcome(self) -> str | None:
        text = self.message()
        if not self._on_message_page():
            return None
        return text if any(n in text.lower() for n in ("paid", "declined", "limit", "refused")) else None

    @staticmethod
    def _wait(predicate: Callable[[], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if INTERRUPTED.is_set():
                raise KeyboardInterrupt
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        return predicate()

    def stop(self) -> None:
        """Stop the simulators and the camera."""
        for h in self.hosts:
            h.stop()
        if self.camera is not None:
            self.camera.stop()
