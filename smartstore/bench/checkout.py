"""``smartstore bench checkout``: scripted baskets of real validation photos through the real checkout.

Each item is a photo from the grocery-store validation split shown to the checkout camera and a
realistic weight put on a simulated MT-SICS scale (a pty, the real driver and settle rule). The
store agent's decision thread runs the real station: camera evidence (zxing-cpp barcodes and the
shipped ONNX model in parallel), the weight/vision fusion, the basket on the screen, offline
payment. A scripted shopper answers questions truthfully and scans a barcode when asked.

Reported: items, auto_accepted, asked, scanned, review, wrong_accepted (accepted as another
product: the number that costs the store money), and the time from the scale's settled weight to
the station's decision on the screen (item accepted, question, or scan request), against the model's
own inference time.
"""

from __future__ import annotations

import random
import resource
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from contracts.member_code import IssuerKey, PhoneKey
from contracts.topics import Topics
from devices.mtsics.driver import MtSicsDriver
from devices.mtsics.simulator import MtSicsSimulator
from devices.pty import PtySimulatorHost
from devices.scales.settle import WeightStable
from edge_agent.adapters.checkout_io import CheckoutIO, Payments, RecordingScreen, ScreenAction, WeightTracker
from edge_agent.adapters.outbox import Outbox
from edge_agent.adapters.vision import EvidenceProvider
from edge_agent.agent import Inbox, StoreAgent
from edge_agent.domain.access import AccessPolicy, AccessVerifier
from edge_agent.domain.catalog import Product
from edge_agent.domain.checkout import (
    AskShopper,
    CheckoutStation,
    ItemScanned,
    MemberCodeScanned,
    Pay,
    ShopperChose,
    ShowBasket,
    ShowMessage,
    ShowReceipt,
    StaffResolved,
    StationConfig,
)
from edge_agent.domain.fusion import FusionConfig
from edge_agent.domain.payment import PaymentConfig, PaymentLedger
from edge_agent.domain.ports import SystemClock
from edge_agent.services.checkout import CheckoutService
from edge_agent.services.events import EventEmitter
from smartstore.bench.stats import median, percentile
from smartstore.grocery import build_catalog

STORE = "bench-store"
STATION = "bench"


@dataclass
class _Script:
    """What the scripted shopper is doing now."""

    product: Product | None = None
    image: np.ndarray | None = None
    events: list[tuple[float, ScreenAction]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    stable_at: list[float] = field(default_factory=list)


def run_checkout_bench(data_dir: Path, *, items: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Run scripted baskets and return the figures."""
    from models import ProductRecognizer

    recognizer = ProductRecognizer.load()
    catalog, by_class = build_catalog(data_dir)
    rows = [line.split(",") for line in (data_dir / "val.txt").read_text().splitlines() if line.strip()]
    photos = [(data_dir / r[0].strip(), int(r[1])) for r in rows]
    rng = random.Random(seed)
    rng.shuffle(photos)
    photos = photos[: items or len(photos)]

    script = _Script()
    workdir = Path(tempfile.mkdtemp(prefix="smartstore-checkout-bench-"))
    clock = SystemClock()
    issuer = IssuerKey.generate()
    verifier = AccessVerifier(STORE, {issuer.kid: issuer.public_raw}, AccessPolicy())
    ledger = PaymentLedger(PaymentConfig(floor_limit_cents=10**8))
    config = StationConfig(
        store_id=STORE,
        station_id=STATION,
        fusion=FusionConfig(auto_accept_threshold=recognizer.auto_accept_threshold),
        receipt_s=0.1,
        auth_timeout_s=0.1,
    )
    station = CheckoutStation(config, verifier, catalog, ledger, clock)
    outbox = Outbox(workdir / "outbox.db")
    inbox = Inbox()

    def on_render(action: ScreenAction) -> None:
        with script.cond:
            script.events.append((time.perf_counter(), action))
            script.cond.notify_all()

    evidence = EvidenceProvider(lambda sid: script.image, recognizer, inbox.submit_station)
    io = CheckoutIO(
        {STATION: RecordingScreen(on_render)},
        Payments(STORE, None, inbox.submit_station),
        inbox.submit_station,
        evidence,
    )
    checkout = CheckoutService({STATION: station}, EventEmitter(outbox, Topics(STORE)), effects=io, ledger=ledger)
    agent = StoreAgent(inbox, checkout=checkout, tick_s=0.05, emitter=checkout.emitter)  # a checkout-only store
    tracker = WeightTracker(lambda inp: agent.submit_station(STATION, inp))

    def on_weight(weight: WeightStable) -> None:
        script.stable_at.append(time.perf_counter())
        tracker(weight)

    sim = MtSicsSimulator()
    counts = {"auto_accepted": 0, "asked": 0, "scanned": 0, "review": 0, "wrong_accepted": 0, "missed": 0}
    latencies: list[float] = []
    baskets = paid = 0
    with PtySimulatorHost(sim, workdir / "tty-scale") as host:
        scale = MtSicsDriver(host.path, name="bench-scale", on_weight=on_weight)
        scale.start()
        if not scale.wait_online(5):
            raise RuntimeError("the simulated scale did not come online")
        agent.start()
        i = 0
        while i < len(photos):
            basket = photos[i : i + rng.randint(3, 6)]
            i += len(basket)
            baskets += 1
            phone = PhoneKey.generate()  # one shopper per basket (a code opens one session)
            signed = issuer.issue_pass(
                member_id=f"shopper-{baskets}", tier="standard", phone_key=phone.public_raw, now=time.time() - 60
            )
            agent.submit_station(STATION, MemberCodeScanned(phone.show_code(signed, store_id=STORE, now=time.time())))
            time.sleep(0.05)
            total = 0.0
            in_basket = 0
            for path, cid in basket:
                truth = by_class[cid]
                grams = truth.unit_weight_g + rng.gauss(0, 4) if truth.unit_weight_g else rng.uniform(150, 1200)
                script.image = cv2.imread(str(path))
                script.product = truth
                total += grams
                with script.cond:
                    start = len(script.events)
                    stable_before = len(script.stable_at)
                sim.model.place(total, settle_s=0.15)
                outcome = _await_item(script, start, truth, agent, counts, in_basket)
                in_basket += outcome != "missed"
                if outcome != "missed" and len(script.stable_at) > stable_before:
                    latencies.append((decision_time(script, start) - script.stable_at[stable_before]) * 1000)
            with script.cond:
                start = len(script.events)
            agent.submit_station(STATION, Pay())
            if _wait_for(script, start, lambda a: isinstance(a, ShowReceipt), 5) is not None:
                paid += 1
            sim.model.place(0.0, settle_s=0.05)
            time.sleep(0.9)  # the platter settles empty before the next shopper
        agent.stop()
        scale.stop()
    evidence.close()
    inference = evidence.inference_ms
    n = sum(counts[k] for k in ("auto_accepted", "asked", "scanned", "review", "missed"))
    p99 = percentile(latencies, 99)
    return {
        "items": n,
        "baskets": baskets,
        "paid": paid,
        **counts,
        "auto_accept_rate": round(counts["auto_accepted"] / n, 3) if n else 0.0,
        "wrong_accept_rate": round(counts["wrong_accepted"] / n, 4) if n else 0.0,
        "auto_accept_threshold": recognizer.auto_accept_threshold,
        "p50_ms": round(median(latencies), 2) if latencies else None,
        "p99_ms": round(p99, 2) if latencies else None,
        "inference_p50_ms": round(median(inference), 2) if inference else None,
        "inference_p99_ms": round(percentile(inference, 99), 2) if inference else None,
        "ratio_p99_to_inference": round(p99 / percentile(inference, 99), 2) if latencies and inference else None,
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def decision_time(script: _Script, start: int) -> float:
    """Return when the screen first showed the station's decision on the item after ``start``.

    The decision is the item in the basket, a question to the shopper, or a request to scan:
    what the shopper sees, before any human answer.
    """
    with script.cond:
        return next(
            t
            for t, a in script.events[start:]
            if (isinstance(a, ShowBasket) and a.pending == 0 and a.lines)
            or isinstance(a, AskShopper)
            or (isinstance(a, ShowMessage) and "scan" in a.text.lower())
        )


def _wait_for(script: _Script, start: int, pred: Any, timeout: float) -> ScreenAction | None:
    deadline = time.monotonic() + timeout
    with script.cond:
        while True:
            for _, action in script.events[start:]:
                if pred(action):
                    return action
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            script.cond.wait(left)


def _await_item(
    script: _Script, start: int, truth: Product, agent: StoreAgent, counts: dict[str, int], lines_before: int
) -> str:
    """Play the shopper until the item is in the basket; count how it got there.

    The path is the strongest intervention it needed: ``review`` (staff) > ``scanned`` > ``asked``
    > ``auto_accepted``.
    """
    path = "auto_accepted"
    rank = {"auto_accepted": 0, "asked": 1, "scanned": 2, "review": 3}

    def escalate(to: str) -> None:
        nonlocal path
        if rank[to] > rank[path]:
            path = to

    deadline = time.monotonic() + 10
    seen = start
    while time.monotonic() < deadline:
        if _wait_for(script, seen, lambda a: True, max(0.0, deadline - time.monotonic())) is None:
            break
        with script.cond:
            action = script.events[seen][1]
        seen += 1
        if isinstance(action, AskShopper):
            escalate("asked")
            pick = truth.id if any(p.id == truth.id for p in action.choices) else None
            agent.submit_station(STATION, ShopperChose(pick))
        elif isinstance(action, ShowMessage) and "scan" in action.text.lower():
            if truth.barcodes:
                escalate("scanned")
                agent.submit_station(STATION, ItemScanned(truth.barcodes[0]))
            else:  # loose produce has no barcode: staff confirm it
                escalate("review")
                agent.submit_station(STATION, StaffResolved(truth.id))
        elif isinstance(action, ShowMessage) and "staff" in action.text.lower():
            escalate("review")
            agent.submit_station(STATION, StaffResolved(truth.id))
        elif isinstance(action, ShowBasket) and action.pending == 0 and len(action.lines) > lines_before:
            if action.lines[-1].product_id != truth.id:
                counts["wrong_accepted"] += 1
            counts[path] += 1
            return "auto" if path == "auto_accepted" else path
    counts["missed"] += 1
    return "missed"
