"""The checkout service: carries out the stations' actions (events, screens, evidence, payments)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contracts.messages import ResolveReviewCommand, SaleCompleted
from edge_agent.domain.access import AccessVerifier
from edge_agent.domain.actions import Emit
from edge_agent.domain.catalog import Catalog, Coupon
from edge_agent.domain.checkout import (
    CatalogUpdated,
    CheckoutInput,
    CheckoutStation,
    StaffResolved,
    StationAction,
    StationTick,
)
from edge_agent.domain.checkout.outputs import ShowMessage
from edge_agent.domain.payment import PaymentLedger
from edge_agent.domain.ports import CheckoutEffects, Publisher
from edge_agent.domain.staff import CredentialPresented, StaffDirectory
from edge_agent.domain.synced import SyncedData
from edge_agent.services.events import EventEmitter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StationInput:
    """An input for checkout station ``station_id``."""

    station_id: str
    input: CheckoutInput | CredentialPresented


class CheckoutService:
    """Run the store's checkout stations against their effects, the emit path and the broker."""

    def __init__(
        self,
        stations: dict[str, CheckoutStation],
        emitter: EventEmitter,
        *,
        effects: CheckoutEffects | None = None,
        publisher: Publisher | None = None,
        ledger: PaymentLedger | None = None,
        catalog_from_sync: Callable[[SyncedData], tuple[Catalog, list[Coupon]]] | None = None,
        on_sale: Callable[[SaleCompleted], None] | None = None,
        tick_s: float = 0.5,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_s: float = 60.0,
        staff: StaffDirectory | None = None,
        on_hold: Callable[[str, bool], object] | None = None,
    ) -> None:
        """Drive ``stations``; ``effects`` runs what needs the outside world, ``on_sale`` records sales.

        ``housekeeping`` (pruning the sales journal) runs at the first tick and every ``housekeeping_s``.
        """
        self.stations = stations
        self.emitter = emitter
        self.effects = effects
        self.publisher = publisher
        self.ledger = ledger
        self.catalog_from_sync = catalog_from_sync
        self.on_sale = on_sale or (lambda sale: None)
        self.tick_s = tick_s
        self._next_tick = 0.0
        self.housekeeping = housekeeping
        self.housekeeping_s = housekeeping_s
        self._next_housekeeping = 0.0
        self._states: dict[str, dict[str, object]] = {}
        self.staff = staff  # a manager's card or PIN at a station resolves its held review
        self.on_hold = on_hold  # a station's staff-review hold began (True) or ended (False): its camera frame
        self._held: set[str] = set()

    def verifiers(self) -> list[AccessVerifier]:
        """Return the stations' code verifiers (synced keys and revocations reach them too)."""
        return [station.verifier for station in self.stations.values()]

    def start(self) -> None:
        """Show every station's welcome screen."""
        for station_id, station in self.stations.items():
            self._execute(station_id, station.start())

    def handle(self, item: StationInput) -> None:
        """Hand one input to its station and carry out the actions (decision thread)."""
        station = self.stations.get(item.station_id)
        if station is None:
            log.warning("input for unknown checkout station %r", item.station_id)
            return
        if isinstance(item.input, CredentialPresented):
            self._manager(item.station_id, station, item.input)
            return
        self._execute(item.station_id, station.handle(item.input))

    def _manager(self, station_id: str, station: CheckoutStation, credential: CredentialPresented) -> None:
        """Resolve the station's held review when a manager's credential is presented there."""
        if self.staff is None:
            return
        decision = self.staff.manager(credential, time.time())
        if not decision.granted:
            log.warning("station %s: %s refused: %s", station_id, credential.kind, decision.detail)
            if self.effects is not None:
                self.effects.execute(station_id, ShowMessage("Staff: credential not accepted here"))
            return
        if not station.held and not station.orphan_review:
            if self.effects is not None:
                self.effects.execute(station_id, ShowMessage("Staff: nothing to resolve"))
            return
        log.info("station %s: held review resolved by manager %s", station_id, decision.staff_id)
        self._execute(station_id, station.handle(StaffResolved()))

    def resolve_review(self, cmd: ResolveReviewCommand) -> str | None:
        """Apply staff's decision from an operator command; return why it cannot be applied, or None."""
        station = self.stations.get(cmd.station_id)
        if station is None:
            known = ", ".join(sorted(self.stations)) or "none"
            return f"no checkout station {cmd.station_id!r} here (stations: {known})"
        if not station.held and not station.orphan_review:
            return f"nothing to resolve at {cmd.station_id}: no item is held for staff"
        if cmd.product_id is not None and station.catalog.get(cmd.product_id) is None:
            return f"unknown product {cmd.product_id!r}"
        self._execute(cmd.station_id, station.handle(StaffResolved(cmd.product_id, cmd.quantity)))
        return None

    def tick(self) -> None:
        """Let every station's timeouts run, at most once every ``tick_s``."""
        now = time.monotonic()
        if not self.stations or now < self._next_tick:
            return
        self._next_tick = now + self.tick_s
        if self.housekeeping is not None and now >= self._next_housekeeping:
            self._next_housekeeping = now + self.housekeeping_s
            try:
                self.housekeeping()
            except OSError as err:  # a full or read-only disk must not stop the checkout
                log.error("checkout housekeeping failed: %s", err)
        for station_id, station in self.stations.items():
            self._execute(station_id, station.handle(StationTick()))

    def apply_synced(self, synced: SyncedData) -> None:
        """Give every station the synced catalog and the ledger the synced coupons."""
        if self.catalog_from_sync is None or not self.stations:
            return
        catalog, coupons = self.catalog_from_sync(synced)
        if self.ledger is not None:
            self.ledger.replace_coupons(coupons)
        for station_id, station in self.stations.items():
            self._execute(station_id, station.handle(CatalogUpdated(catalog)))

    def _execute(self, station_id: str, actions: Sequence[StationAction]) -> None:
        for action in actions:
            if isinstance(action, Emit):
                self.emitter.append(action.event)
                if isinstance(action.event, SaleCompleted):
                    self.on_sale(action.event)
            elif self.effects is not None:
                self.effects.execute(station_id, action)
        self.emitter.flush()
        self._watch_hold(station_id)
        if self.publisher is not None:
            state = self.stations[station_id].snapshot().as_dict()
            if state != self._states.get(station_id):
                self._states[station_id] = state
                self.publisher.publish_state(f"checkout-{station_id}", json.dumps(state).encode())

    def _watch_hold(self, station_id: str) -> None:
        """Tell ``on_hold`` when ``station_id``'s staff-review hold begins or ends."""
        if self.on_hold is None:
            return
        held = self.stations[station_id].held
        if held == (station_id in self._held):
            return
        if held:
            self._held.add(station_id)
        else:
            self._held.discard(station_id)
        try:
            self.on_hold(station_id, held)
        except Exception:  # best effort: a failing camera or disk never stops the checkout
            log.exception("keeping the review frame of %s failed", station_id)
