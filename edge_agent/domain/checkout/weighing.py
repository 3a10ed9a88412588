"""The basket and the weights: items placed and taken off, camera evidence, answers and scans."""

from __future__ import annotations

from contracts.messages import AlarmKind
from edge_agent.domain.checkout.core import StationCore
from edge_agent.domain.checkout.inputs import Evidence, ShopperChose, WeightSettled
from edge_agent.domain.checkout.outputs import MESSAGES, AskShopper, RequestEvidence, ShowMessage, StationAction
from edge_agent.domain.checkout.session import Item, Session, State
from edge_agent.domain.fusion import (
    Accept,
    Ask,
    ItemDecision,
    NeedScan,
    VisionEvidence,
    accept_product,
    decide,
    from_barcode,
    removal_agrees,
)


class WeighingSteps(StationCore):
    """The part of the station's state machine that builds the basket."""

    def _on_weight(self, event: WeightSettled, out: list[StationAction]) -> None:
        self.platter_g = event.grams
        self._weight_change(event, out)
        if event.grams <= self.config.empty_g:
            self._on_scale.clear()  # the platter is empty: nothing from earlier sessions is left on it
            self._platter_emptied(out)
        if self.session is None and self.state is State.IDLE:
            self._maybe_zero(out)  # between shoppers

    def _weight_change(self, event: WeightSettled, out: list[StationAction]) -> None:
        delta = event.delta_grams
        if abs(delta) < self.config.min_delta_g:
            return
        s = self.session
        if s is None or self.state in (State.IDLE, State.RECEIPT):
            if delta > 0:
                self._on_scale.append(delta)
                if self.state is State.IDLE:
                    out.append(ShowMessage(MESSAGES["code_first"]))
            else:
                self._take_off_scale(-delta)
            return
        if self.state is State.AUTHORIZING:
            s.deferred.append(event)  # the amount is already asked for; decide after the answer
            return
        if self.state is State.PAYMENT:
            self._edit(out)
        if delta > 0:
            self._placed(s, delta, out)
        else:
            self._removed(s, -delta, out)

    def _take_off_scale(self, grams: float) -> bool:
        for i in range(len(self._on_scale) - 1, -1, -1):
            if removal_agrees(self._on_scale[i], grams, self.config.fusion):
                del self._on_scale[i]
                return True
        return False

    def _placed(self, s: Session, grams: float, out: list[StationAction]) -> None:
        fusion = self.config.fusion
        for i, removed in enumerate(s.removals):
            if removal_agrees(removed, grams, fusion):  # the item taken off unexplained came back
                del s.removals[i]
                self._after_holds_change(out)
                self._show_basket(out)
                return
        self._seq += 1
        item = Item(self._seq, grams, "evidence", self.clock.monotonic())
        s.items.append(item)
        scan = self._take_recent_scan()
        if scan is not None:
            item.scanned = (scan,)
            result = from_barcode(scan, "scanner", grams, self.catalog, fusion, self.clock.time())
            if isinstance(result, Accept):
                self._apply(s, item, result, out)
                return
        out.append(RequestEvidence(item.seq, grams))
        self._show_basket(out)

    def _take_recent_scan(self) -> str | None:
        scan, self._scan = self._scan, None
        if scan is None or self.clock.monotonic() - scan[1] > self.config.scan_window_s:
            return None
        return scan[0]

    def _removed(self, s: Session, grams: float, out: list[StationAction]) -> None:
        fusion = self.config.fusion
        for i in range(len(s.items) - 1, -1, -1):  # most recent matching item first
            if removal_agrees(s.items[i].weight_g, grams, fusion):
                was = s.items.pop(i).status
                if was == "review":
                    self._after_holds_change(out)
                self._show_basket(out)
                self._ask_next(s, out)
                return
        if self._take_off_scale(grams):
            return  # something that was on the scale before this session
        s.removals.append(grams)
        self._raise(
            AlarmKind.STAFF_REVIEW,
            self.config.station_id,
            out,
            f"member {s.member_id}: {grams:g} g taken off the scale matches no item",
        )
        out.append(ShowMessage(MESSAGES["staff"]))

    # ------------------------------------------------------------------ evidence and decisions
    def _on_evidence(self, event: Evidence, out: list[StationAction]) -> None:
        self._vision(event.camera_ok, event.model_ok, out)
        s = self.session
        if s is None or self.state not in (State.SHOPPING, State.PAYMENT):
            return
        item = next((i for i in s.items if i.seq == event.item_seq), None)
        if item is None or item.status not in ("evidence", "scan"):
            return  # unknown, already decided, or waiting for the shopper/staff
        vision = VisionEvidence(event.barcodes, event.predictions, event.camera_ok, event.model_ok)
        decision = decide(
            item.weight_g, vision, self.catalog, self.config.fusion, now=self.clock.time(), scanned=item.scanned
        )
        if self.state is State.PAYMENT and not isinstance(decision, NeedScan):
            self._edit(out)
        self._apply(s, item, decision, out)

    def _apply(self, s: Session, item: Item, decision: ItemDecision, out: list[StationAction]) -> None:
        self.item_decisions[_decision_name(decision)] += 1
        if isinstance(decision, Accept):
            was_review = item.status == "review"
            item.status, item.accept, item.choices = "accepted", decision, ()
            if was_review:
                self._after_holds_change(out)
            self._show_basket(out)
            self._ask_next(s, out)
        elif isinstance(decision, Ask):
            item.status, item.choices, item.reason = "ask", decision.choices, decision.reason
            self._ask_next(s, out)
        elif isinstance(decision, NeedScan):
            item.status, item.reason = "scan", decision.reason
            out.append(ShowMessage(f"{MESSAGES['scan']} ({decision.reason})" if decision.reason else MESSAGES["scan"]))
        else:
            item.status, item.reason = "review", decision.reason
            self._raise(
                AlarmKind.STAFF_REVIEW,
                self.config.station_id,
                out,
                f"member {s.member_id}: item of {item.weight_g:g} g: {decision.reason}",
            )
            out.append(ShowMessage(MESSAGES["staff"]))
            self._show_basket(out)

    def _on_choice(self, event: ShopperChose, out: list[StationAction]) -> None:
        s = self.session
        if s is None or self.state not in (State.SHOPPING, State.PAYMENT):
            return
        item = next((i for i in s.items if i.status == "ask"), None)
        if item is None:
            return
        if event.product_id is None:
            self._apply(s, item, NeedScan("none of the suggestions"), out)
            self._ask_next(s, out)
            return
        product = next((p for p in item.choices if p.id == event.product_id), None)
        if product is None:
            out.append(AskShopper(item.seq, item.choices, "Please choose one of these"))
            return
        accepted = accept_product(product, item.weight_g, "shopper", self.config.fusion, self.clock.time())
        if self.state is State.PAYMENT:
            self._edit(out)
        self._apply(s, item, accepted if accepted is not None else NeedScan("choice does not match the weight"), out)

    def _on_scan(self, code: str, out: list[StationAction]) -> None:
        s = self.session
        if s is None or self.state in (State.IDLE, State.RECEIPT):
            out.append(ShowMessage(MESSAGES["code_first"]))
            return
        if self.state is State.AUTHORIZING:
            out.append(ShowMessage(MESSAGES["pay_wait"]))
            return
        fusion, now = self.config.fusion, self.clock.time()
        unresolved = s.pending()
        first_reason = ""
        for item in unresolved:
            result = from_barcode(code, "scanner", item.weight_g, self.catalog, fusion, now)
            if isinstance(result, Accept):
                if self.state is State.PAYMENT:
                    self._edit(out)
                self._apply(s, item, result, out)
                return
            first_reason = first_reason or result
        if unresolved:
            out.append(ShowMessage(f"Scanned item does not match: {first_reason}"))
            return
        if self.state is State.PAYMENT:
            self._edit(out)
        self._scan = (code, self.clock.monotonic())
        out.append(ShowMessage(MESSAGES["place"]))


def _decision_name(decision: ItemDecision) -> str:
    """Return the metric label of a decision: ``accepted_<source>``, ``ask``, ``scan`` or ``review``."""
    if isinstance(decision, Accept):
        return f"accepted_{decision.source}"
    if isinstance(decision, Ask):
        return "ask"
    return "scan" if isinstance(decision, NeedScan) else "review"
