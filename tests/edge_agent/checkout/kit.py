"""Shared test kit for the checkout domain: a small catalog, a station factory and a shopper driver."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from contracts.messages import EventBase
from edge_agent.domain.access import AccessPolicy, AccessVerifier
from edge_agent.domain.actions import Emit
from edge_agent.domain.barcodes import BarcodeScheme
from edge_agent.domain.catalog import Catalog, Coupon, Product
from edge_agent.domain.checkout import (
    CheckoutStation,
    Evidence,
    MemberCodeScanned,
    RequestAuthorization,
    RequestEvidence,
    StationAction,
    StationConfig,
    WeightSettled,
)
from edge_agent.domain.fusion import FusionConfig
from edge_agent.domain.payment import PaymentConfig, PaymentLedger
from tests.edge_agent.helpers import STORE, FakeClock, Members

COLA_EAN = "4006381333931"  # a real, valid EAN-13
COLA = Product("cola", "Cola 33cl", 150, barcodes=(COLA_EAN,), unit_weight_g=330.0, model_labels=("Cola",))
CHIPS = Product("chips", "Chips", 200, unit_weight_g=150.0, model_labels=("Chips",))
CHOC = Product("choc", "Chocolate", 120, unit_weight_g=100.0)
OAT = Product("oat", "Oat milk 1l", 210, unit_weight_g=1040.0)
SOY = Product("soy", "Soy milk 1l", 190, unit_weight_g=1045.0)
APPLE = Product("apple", "Apples", sold_by_weight=True, price_per_kg_cents=300, min_weight_g=50, max_weight_g=3000)
CHEESE = Product("cheese", "Deli cheese", sold_by_weight=True, price_per_kg_cents=2000, item_code="12345")
HAM = Product("ham", "Deli ham", unit_weight_g=200.0, item_code="54321")
PRODUCTS = (COLA, CHIPS, CHOC, OAT, SOY, APPLE, CHEESE, HAM)
SCHEME = BarcodeScheme.from_patterns(["21PPPPPWWWWWC", "22PPPPP$$$$$C", "2PPPPPV$$$$C"])
THRESHOLD = 0.8


def fusion_config(**kw: object) -> FusionConfig:
    """Return the test fusion settings."""
    settings: dict[str, object] = {"auto_accept_threshold": THRESHOLD, "scheme": SCHEME, **kw}
    return FusionConfig(**settings)  # type: ignore[arg-type]


def catalog() -> Catalog:
    """Return the test catalog."""
    return Catalog(PRODUCTS, version=1)


@dataclass
class Rig:
    """A started station with its clock, members and ledger, and a shopper driver."""

    station: CheckoutStation
    clock: FakeClock
    members: Members
    ledger: PaymentLedger
    scale_g: float = 0.0
    seen: list[StationAction] = field(default_factory=list)

    def send(self, event: object) -> list[StationAction]:
        """Handle one input and remember the actions."""
        actions = self.station.handle(event)  # type: ignore[arg-type]
        self.seen.extend(actions)
        return actions

    def login(self, member: str = "m1") -> list[StationAction]:
        """Scan a fresh member code."""
        return self.send(MemberCodeScanned(self.members.code(member, self.clock.wall)))

    def weigh(self, delta: float) -> list[StationAction]:
        """Put ``delta`` grams on the scale (negative: take off)."""
        self.scale_g = max(self.scale_g + delta, 0.0)
        return self.send(WeightSettled(self.scale_g, delta))

    def take_all(self) -> list[StationAction]:
        """Take everything off the scale at once (the shopper leaves with their goods)."""
        return self.weigh(-self.scale_g) if self.scale_g else []

    def place(
        self,
        grams: float,
        *,
        barcodes: tuple[str, ...] = (),
        predictions: tuple[tuple[str, float], ...] = (),
        camera_ok: bool = True,
        model_ok: bool = True,
    ) -> list[StationAction]:
        """Place an item and answer the evidence request; return all actions."""
        actions = self.weigh(grams)
        requests = of(actions, RequestEvidence)
        if not requests:
            return actions
        evidence = Evidence(requests[0].item_seq, barcodes, predictions, camera_ok, model_ok)
        return actions + self.send(evidence)

    def last_request(self) -> RequestAuthorization:
        """Return the latest payment request."""
        return of(self.seen, RequestAuthorization)[-1]


def of(actions: list[StationAction], cls: type) -> list:
    """Return the actions of one type."""
    return [a for a in actions if isinstance(a, cls)]


def events(actions: list[StationAction], cls: type[EventBase]) -> list:
    """Return the emitted events of one type."""
    return [a.event for a in actions if isinstance(a, Emit) and isinstance(a.event, cls)]


def make_rig(
    *,
    online: bool = False,
    floor_limit_cents: int = 3000,
    coupons: tuple[Coupon, ...] = (),
    ledger: PaymentLedger | None = None,
    members: Members | None = None,
    clock: FakeClock | None = None,
    station_id: str = "co1",
    fusion: FusionConfig | None = None,
    **config: object,
) -> Rig:
    """Build a started station with deterministic ids."""
    members = members or Members()
    clock = clock or FakeClock()
    ledger = ledger or PaymentLedger(PaymentConfig(floor_limit_cents=floor_limit_cents), coupons)
    counter = itertools.count(int.from_bytes(station_id.encode()) << 32)
    verifier = AccessVerifier(STORE, members.trusted, AccessPolicy(occupancy_cap=0))
    station = CheckoutStation(
        StationConfig(STORE, station_id, fusion or fusion_config(), **config),  # type: ignore[arg-type]
        verifier,
        catalog(),
        ledger,
        clock,
        online=online,
        new_id=lambda: uuid.UUID(int=next(counter)),
    )
    station.start()
    return Rig(station, clock, members, ledger)
