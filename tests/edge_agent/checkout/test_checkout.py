"""Checkout station: the session flow, item decisions, holds, removals and degraded modes."""

from __future__ import annotations

from datetime import time

import pytest

from contracts.messages import AlarmCleared, AlarmKind, AlarmRaised, CheckoutAbandoned, DenyReason, SaleCompleted
from edge_agent.domain.access import AccessPolicy, AccessVerifier, TimeRange
from edge_agent.domain.actions import Feedback
from edge_agent.domain.catalog import Catalog, Product
from edge_agent.domain.checkout import (
    MESSAGES,
    Abandon,
    AskShopper,
    CatalogUpdated,
    CheckoutStation,
    Evidence,
    ItemScanned,
    MemberCodeScanned,
    Pay,
    RequestEvidence,
    ScaleStatus,
    ShopperChose,
    ShowBasket,
    ShowMessage,
    ShowReceipt,
    StaffResolved,
    State,
    StationConfig,
    StationTick,
    VisionStatus,
    WeightSettled,
)
from edge_agent.domain.payment import PaymentLedger
from tests.edge_agent.checkout.kit import CHIPS, COLA_EAN, SOY, catalog, events, fusion_config, make_rig, of
from tests.edge_agent.helpers import STORE, FakeClock, Members


def basket(actions: list) -> ShowBasket:
    return of(actions, ShowBasket)[-1]


def alarms(actions: list, kind: AlarmKind) -> list:
    return [e for e in events(actions, AlarmRaised) if e.alarm is kind]


# ------------------------------------------------------------------ member code


def test_valid_member_code_starts_a_session() -> None:
    rig = make_rig()
    actions = rig.login("m1")
    assert rig.station.state is State.SHOPPING
    assert of(actions, Feedback)[0].granted
    assert basket(actions).total_cents == 0
    assert rig.station.snapshot().member_id == "m1"


def test_checkout_ignores_night_hours_and_occupancy() -> None:
    members, clock = Members(), FakeClock()
    closed = AccessPolicy(tier_hours={"*": (TimeRange(time(1, 0), time(1, 1)),)}, occupancy_cap=0)
    station = CheckoutStation(
        StationConfig(STORE, "co1", fusion_config()),
        AccessVerifier(STORE, members.trusted, closed),
        catalog(),
        PaymentLedger(),
        clock,
    )
    station.start()
    station.handle(MemberCodeScanned(members.code("m1", clock.wall)))
    assert station.state is State.SHOPPING


@pytest.mark.parametrize("case", ["malformed", "wrong_store", "replayed", "revoked", "expired"])
def test_refused_member_code_gives_the_reason(case: str) -> None:
    rig = make_rig()
    code = rig.members.code("m1", rig.clock.wall)
    expected = DenyReason(case)
    if case == "malformed":
        code = "hello"
    elif case == "wrong_store":
        code = rig.members.code("m1", rig.clock.wall, store="store-2")
    elif case == "replayed":
        rig.send(MemberCodeScanned(code))
        rig.send(Abandon())
    elif case == "revoked":
        rig.station.verifier.revocations.replace(["m1"], version=1)
    else:
        rig.clock.advance(7200)  # past the pass validity and the code window
    actions = rig.send(MemberCodeScanned(code))
    feedback = of(actions, Feedback)[0]
    assert (feedback.granted, feedback.reason) == (False, expected)
    assert of(actions, ShowMessage)[0].text == feedback.message
    assert rig.station.state is State.IDLE


def test_member_code_from_serial_scanner_is_routed_to_login() -> None:
    rig = make_rig()
    rig.send(ItemScanned(rig.members.code("m7", rig.clock.wall)))
    assert rig.station.snapshot().member_id == "m7"


def test_second_member_code_during_a_session_is_refused() -> None:
    rig = make_rig()
    rig.login("m1")
    actions = rig.login("m2")
    assert rig.station.snapshot().member_id == "m1"
    assert of(actions, ShowMessage)[0].text.startswith("Finish or cancel")


# ------------------------------------------------------------------ items


def test_barcode_item_is_accepted_and_shown() -> None:
    rig = make_rig()
    rig.login()
    actions = rig.place(333, barcodes=(COLA_EAN,))
    shown = basket(actions)
    assert shown.total_cents == 150
    assert [(line.product_id, line.quantity) for line in shown.lines] == [("cola", 1)]
    snap = rig.station.snapshot()
    assert (snap.item_count, snap.total_cents, snap.held, snap.degraded) == (1, 150, False, False)


def test_model_and_weight_accept_and_same_products_merge_into_one_line() -> None:
    rig = make_rig()
    rig.login()
    rig.place(151, predictions=(("Chips", 0.95),))
    actions = rig.place(149, predictions=(("Chips", 0.9),))
    shown = basket(actions)
    assert [(line.product_id, line.quantity, line.total_cents) for line in shown.lines] == [("chips", 2, 400)]


def test_ambiguous_item_asks_then_shopper_chooses() -> None:
    rig = make_rig()
    rig.login()
    actions = rig.place(1043, predictions=(("oat", 0.5), ("soy", 0.4)))
    ask = of(actions, AskShopper)[0]
    assert [p.id for p in ask.choices] == ["oat", "soy"]
    blocked = rig.send(Pay())
    assert of(blocked, ShowMessage)[0].text.startswith("Wait until")
    assert not events(blocked, SaleCompleted)
    chosen = rig.send(ShopperChose("soy"))
    assert basket(chosen).lines[0].product_id == SOY.id
    assert rig.station.snapshot().total_cents == 190


def test_shopper_choice_outside_the_choices_is_asked_again() -> None:
    rig = make_rig()
    rig.login()
    rig.place(1043, predictions=(("oat", 0.5), ("soy", 0.4)))
    again = rig.send(ShopperChose("cola"))
    assert of(again, AskShopper)
    assert rig.station.snapshot().item_count == 0


def test_none_of_these_asks_for_a_scan_and_the_scan_resolves() -> None:
    rig = make_rig()
    rig.login()
    rig.place(331, predictions=(("Cola", 0.5),))
    assert of(rig.send(ShopperChose(None)), ShowMessage)[0].text.startswith("Please scan")
    actions = rig.send(ItemScanned(COLA_EAN))
    assert basket(actions).total_cents == 150


def test_camera_down_asks_for_scan_and_raises_one_alarm() -> None:
    rig = make_rig()
    rig.login()
    first = rig.place(330, camera_ok=False)
    assert len(alarms(first, AlarmKind.CAMERA_DOWN)) == 1
    assert "camera" in of(first, ShowMessage)[-1].text
    assert rig.station.snapshot().degraded
    resolved = rig.send(ItemScanned(COLA_EAN))
    assert basket(resolved).total_cents == 150
    second = rig.place(150, camera_ok=False)
    assert not alarms(second, AlarmKind.CAMERA_DOWN)  # once per outage
    back = rig.send(VisionStatus(camera_ok=True, model_ok=True))
    assert events(back, AlarmCleared)[0].alarm is AlarmKind.CAMERA_DOWN
    assert not rig.station.snapshot().degraded


def test_model_missing_is_degraded_and_a_scan_before_placing_works() -> None:
    rig = make_rig()
    rig.login()
    actions = rig.place(150, predictions=(), model_ok=False)
    assert alarms(actions, AlarmKind.DEVICE_ERROR)
    assert rig.station.snapshot().degraded
    rig.weigh(-150)  # take it off again
    assert of(rig.send(ItemScanned(COLA_EAN)), ShowMessage)[0].text.startswith("Now place")
    placed = rig.weigh(331)
    assert not of(placed, RequestEvidence)  # the scan named it, no camera needed
    assert basket(placed).total_cents == 150


def test_scan_that_does_not_match_the_weight_is_refused() -> None:
    rig = make_rig()
    rig.login()
    rig.place(150, camera_ok=False)
    actions = rig.send(ItemScanned(COLA_EAN))
    assert "does not match" in of(actions, ShowMessage)[0].text
    assert rig.station.snapshot().item_count == 0


def test_no_camera_answer_in_time_asks_for_scan() -> None:
    rig = make_rig(evidence_timeout_s=5)
    rig.login()
    rig.weigh(150)
    rig.clock.advance(4)
    assert not of(rig.send(StationTick()), ShowMessage)
    rig.clock.advance(2)
    assert of(rig.send(StationTick()), ShowMessage)[0].text.startswith("Please scan")
    late = rig.send(Evidence(1, predictions=(("Chips", 0.95),)))  # late evidence still counts
    assert basket(late).total_cents == 200


# ------------------------------------------------------------------ holds


def test_unexplained_item_holds_until_staff_resolve() -> None:
    rig = make_rig()
    rig.login()
    rig.place(151, predictions=(("Chips", 0.95),))
    actions = rig.place(250, predictions=(("Chips", 0.9),))
    raised = alarms(actions, AlarmKind.STAFF_REVIEW)
    assert len(raised) == 1
    assert "250 g" in raised[0].detail
    assert rig.station.held
    refused = rig.send(Pay())
    assert of(refused, ShowMessage)[0].text.startswith("Staff must check")
    assert not events(refused, SaleCompleted)
    assert rig.station.state is State.SHOPPING
    resolved = rig.send(StaffResolved("choc", quantity=2))
    assert events(resolved, AlarmCleared)[0].alarm is AlarmKind.STAFF_REVIEW
    assert not rig.station.held
    assert rig.station.snapshot().total_cents == 200 + 240
    paid = rig.send(Pay())
    assert events(paid, SaleCompleted)[0].total_cents == 440


def test_unexplained_item_taken_off_again_releases_the_hold() -> None:
    rig = make_rig()
    rig.login()
    rig.place(250)
    assert rig.station.held
    actions = rig.weigh(-251)
    assert events(actions, AlarmCleared)
    assert not rig.station.held


def test_staff_dismiss_clears_every_hold() -> None:
    rig = make_rig()
    rig.login()
    rig.place(250)
    rig.weigh(-700)  # also an unexplained removal
    assert len(rig.station.snapshot().holds) == 2
    actions = rig.send(StaffResolved())
    assert events(actions, AlarmCleared)
    assert rig.station.snapshot().holds == ()


def test_removal_matching_an_item_removes_the_most_recent_match() -> None:
    rig = make_rig()
    rig.login()
    rig.place(333, barcodes=(COLA_EAN,))
    rig.place(150, predictions=(("Chips", 0.95),))
    rig.place(152, predictions=(("Chips", 0.95),))
    actions = rig.weigh(-151)
    assert basket(actions).total_cents == 150 + 200
    assert not alarms(actions, AlarmKind.STAFF_REVIEW)
    assert rig.station.snapshot().item_count == 2


def test_removal_matching_nothing_raises_alert_and_holds_until_put_back() -> None:
    rig = make_rig()
    rig.login()
    rig.place(333, barcodes=(COLA_EAN,))
    actions = rig.weigh(-80)
    assert alarms(actions, AlarmKind.STAFF_REVIEW)
    assert rig.station.held
    assert rig.station.snapshot().item_count == 1
    back = rig.weigh(81)
    assert events(back, AlarmCleared)
    assert not rig.station.held
    assert not of(back, RequestEvidence)  # not a new item


def test_items_left_on_the_scale_before_login_are_not_alerts() -> None:
    rig = make_rig()
    assert of(rig.weigh(500), ShowMessage)[0].text.startswith("Scan your member code")
    rig.login()
    actions = rig.weigh(-500)
    assert not alarms(actions, AlarmKind.STAFF_REVIEW)
    assert not rig.station.held


def test_weight_drift_is_ignored() -> None:
    rig = make_rig()
    rig.login()
    assert rig.weigh(2) == []


# ------------------------------------------------------------------ session lifecycle


def test_idle_session_is_abandoned_after_timeout() -> None:
    rig = make_rig(idle_timeout_s=120)
    rig.login()
    rig.place(150, predictions=(("Chips", 0.95),))
    rig.clock.advance(119)
    rig.send(StationTick())
    assert rig.station.state is State.SHOPPING
    rig.clock.advance(2)
    actions = rig.send(StationTick())
    assert rig.station.state is State.IDLE
    assert of(actions, ShowMessage)[0].text == "Purchase cancelled"
    assert not events(rig.seen, SaleCompleted)
    assert rig.station.snapshot().member_id is None
    [gone] = events(actions, CheckoutAbandoned)  # unpaid goods are reported, not silently forgotten
    assert (gone.reason, gone.member_id, gone.unidentified) == ("timeout", "m1", 0)
    assert [line.name for line in gone.lines] == ["Chips"] and gone.value_cents == gone.lines[0].total_cents > 0


def test_held_session_waits_longer_for_staff_and_its_alarm_outlives_it() -> None:
    rig = make_rig(idle_timeout_s=120, review_timeout_s=600)
    rig.login()
    rig.place(250)
    rig.clock.advance(200)
    rig.send(StationTick())
    assert rig.station.state is State.SHOPPING
    rig.clock.advance(401)
    rig.send(StationTick())
    assert rig.station.state is State.IDLE
    assert not events(rig.seen, AlarmCleared)  # staff still has to look
    assert events(rig.send(StaffResolved()), AlarmCleared)


def test_abandon_returns_to_idle() -> None:
    rig = make_rig()
    rig.login()
    rig.place(150, predictions=(("Chips", 0.95),))
    rig.place(400)  # not identified yet
    [gone] = events(rig.send(Abandon()), CheckoutAbandoned)
    assert (gone.reason, len(gone.lines), gone.unidentified) == ("shopper", 1, 1)
    assert rig.station.state is State.IDLE
    rig.weigh(-400)
    assert not events(rig.send(Abandon()), CheckoutAbandoned)  # nothing open: nothing to report
    refused = rig.login("m2")  # the abandoned chips still lie on the platter: nobody's item
    assert rig.station.session is None and of(refused, ShowMessage)[-1].text == MESSAGES["clear_scale"]
    taken = rig.weigh(-150)  # the abandoned item is taken off: no staff alert, m2's session opens
    assert not events(taken, AlarmRaised)
    assert rig.station.snapshot().member_id == "m2" and rig.station.snapshot().item_count == 0


def test_stations_are_independent() -> None:
    a = make_rig(station_id="co1")
    b = make_rig(station_id="co2", members=a.members, ledger=a.ledger, clock=a.clock)
    a.login("m1")
    a.place(150, predictions=(("Chips", 0.95),))
    assert b.station.state is State.IDLE
    b.login("m2")
    assert b.station.snapshot().item_count == 0
    assert a.station.snapshot().station_id == "co1"
    assert b.station.snapshot().as_dict()["station_id"] == "co2"


def test_catalog_update_applies_to_new_items_only() -> None:
    rig = make_rig()
    rig.login()
    rig.place(150, predictions=(("Chips", 0.95),))
    dearer = Product("chips", "Chips", 250, unit_weight_g=150.0, model_labels=("Chips",))
    rig.send(CatalogUpdated(Catalog([dearer], version=2)))
    rig.send(CatalogUpdated(Catalog([CHIPS], version=1)))  # an older version is ignored
    actions = rig.place(150, predictions=(("Chips", 0.95),))
    assert basket(actions).total_cents == 200 + 250


def test_start_is_required() -> None:
    members = Members()
    station = CheckoutStation(
        StationConfig(STORE, "co1", fusion_config()),
        AccessVerifier(STORE, members.trusted, AccessPolicy()),
        catalog(),
        PaymentLedger(),
        FakeClock(),
    )
    with pytest.raises(RuntimeError, match="start"):
        station.handle(WeightSettled(100, 100))


def test_receipt_then_idle() -> None:
    rig = make_rig(receipt_s=8)
    rig.login()
    rig.place(150, predictions=(("Chips", 0.95),))
    actions = rig.send(Pay())
    receipt = of(actions, ShowReceipt)[0]
    assert (receipt.total_cents, receipt.payment_mode) == (200, "offline")
    assert rig.station.state is State.RECEIPT
    rig.clock.advance(7)
    rig.send(StationTick())
    assert rig.station.state is State.RECEIPT
    rig.clock.advance(2)
    rig.send(StationTick())
    assert rig.station.state is State.IDLE
    assert rig.station.sold["chips"] == 1


def _screen(actions: list) -> list[str]:
    return [m.text for m in of(actions, ShowMessage)]


def test_without_a_scale_no_session_starts_and_one_in_progress_can_still_pay() -> None:
    rig = make_rig()
    assert _screen(rig.send(ScaleStatus(online=False))) == ["Out of order - the scale is not working"]
    assert rig.station.snapshot().scale_ok is False
    refused = rig.login("m1")
    assert rig.station.state is State.IDLE and not of(refused, Feedback)[0].granted
    assert rig.send(ScaleStatus(online=False)) == []  # no news: nothing to redraw
    assert _screen(rig.send(ScaleStatus(online=True))) == ["Scan your member code to start"]
    rig.login("m2")  # a fresh code: the refused one was never burned, but this is another member
    rig.place(150, predictions=(("Chips", 0.95),))
    lost = rig.send(ScaleStatus(online=False))
    assert _screen(lost) == ["The scale stopped working - pay for the items shown or cancel"]
    receipt = of(rig.send(Pay()), ShowReceipt)[0]
    assert receipt.total_cents == 200  # what was weighed before the scale went is paid for
    rig.clock.advance(10)
    assert _screen(rig.send(StationTick())) == ["Out of order - the scale is not working"]  # not "scan to start"
    assert rig.station.state is State.IDLE


def test_staff_can_name_an_item_the_degraded_station_cannot() -> None:
    rig = make_rig()
    rig.login()
    rig.place(640, camera_ok=False)  # loose apples, no barcode, no camera
    assert rig.station.snapshot().pending == 1
    assert of(rig.send(Pay()), ShowMessage)[0].text.startswith("Wait until")
    rig.send(StaffResolved("apple"))
    snap = rig.station.snapshot()
    assert (snap.pending, snap.total_cents) == (0, 192)


def test_items_are_counted_by_how_they_were_decided() -> None:
    rig = make_rig()
    rig.login()
    rig.place(151, predictions=(("Chips", 0.95),))
    rig.place(250, predictions=(("Chips", 0.9),))  # nothing weighs 250 g more: held for staff
    decisions = rig.station.item_decisions
    assert decisions["review"] == 1
    assert sum(n for name, n in decisions.items() if name.startswith("accepted_")) == 1
