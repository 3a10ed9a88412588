"""Finishing a sale without touch, embedded labels priced from the label, and the platter looked after."""

from __future__ import annotations

from typing import Any

from contracts.messages import AlarmCleared, AlarmKind, AlarmRaised, CheckoutAbandoned, SaleCompleted
from edge_agent.domain.barcodes import EmbeddedLayout, make_embedded
from edge_agent.domain.checkout import (
    MESSAGES,
    ItemScanned,
    MemberCodeScanned,
    Pay,
    ShowMessage,
    State,
    StationTick,
    WeightSettled,
    ZeroScale,
)
from tests.edge_agent.checkout.kit import COLA_EAN, Rig, events, make_rig, of

PAY, CANCEL = "STATION-PAY-co1", "STATION-CANCEL-co1"


def _rig(**config: Any) -> Rig:
    return make_rig(pay_codes=frozenset({PAY}), cancel_codes=frozenset({CANCEL}), **config)


def _basket(rig: Rig) -> str:
    """Log in, put a cola on the scale; return the member code used."""
    code = rig.members.code("m1", rig.clock.wall)
    rig.send(MemberCodeScanned(code))
    rig.place(330, barcodes=(COLA_EAN,))
    assert rig.station.snapshot().item_count == 1
    return code


# ------------------------------------------------------------------ paying without touch


def test_scanning_the_station_pay_code_pays() -> None:
    rig = _rig()
    _basket(rig)
    [sale] = events(rig.send(ItemScanned(f"  {PAY}\r\n")), SaleCompleted)
    assert (sale.total_cents, sale.payment_mode) == (150, "offline")
    assert rig.station.paid_by == {"scanner": 1}


def test_scanning_the_cancel_code_abandons_the_basket() -> None:
    rig = _rig()
    _basket(rig)
    [gone] = events(rig.send(ItemScanned(CANCEL)), CheckoutAbandoned)
    assert gone.reason == "shopper" and rig.station.state is State.IDLE


def test_a_pay_code_is_no_item_and_without_a_basket_asks_for_the_member_code() -> None:
    rig = _rig()
    assert of(rig.send(ItemScanned(PAY)), ShowMessage) == [ShowMessage(MESSAGES["code_first"])]
    assert rig.station.session is None


def test_codes_that_are_not_configured_are_items() -> None:
    rig = make_rig()
    _basket(rig)
    out = rig.send(ItemScanned(PAY))
    assert not events(out, SaleCompleted) and rig.station.state is State.SHOPPING


def test_the_same_member_code_presented_again_pays() -> None:
    rig = _rig()
    code = _basket(rig)
    [sale] = events(rig.send(MemberCodeScanned(code)), SaleCompleted)
    assert sale.member_id == "m1" and rig.station.paid_by == {"member_code": 1}


def test_a_fresh_code_of_the_same_member_from_the_scanner_pays() -> None:
    rig = _rig()
    _basket(rig)
    rig.clock.advance(31)  # the phone shows a new code
    [sale] = events(rig.send(ItemScanned(rig.members.code("m1", rig.clock.wall))), SaleCompleted)
    assert sale.member_id == "m1"


def test_another_members_code_does_not_pay_someone_elses_basket() -> None:
    rig = _rig()
    _basket(rig)
    out = rig.send(MemberCodeScanned(rig.members.code("m2", rig.clock.wall)))
    assert not events(out, SaleCompleted)
    assert of(out, ShowMessage) == [ShowMessage(MESSAGES["busy"])]
    assert rig.station.snapshot().member_id == "m1"


def test_member_code_payment_can_be_turned_off() -> None:
    rig = _rig(pay_by_member_code=False)
    code = _basket(rig)
    assert not events(rig.send(MemberCodeScanned(code)), SaleCompleted)


def test_keypad_pay_is_counted_by_source() -> None:
    rig = _rig()
    _basket(rig)
    assert events(rig.send(Pay("keypad")), SaleCompleted)
    assert rig.station.paid_by == {"keypad": 1}


# ------------------------------------------------------------------ embedded labels


def test_loose_produce_from_a_scale_label_is_priced_from_the_label_weight() -> None:
    rig = make_rig()
    label = make_embedded(EmbeddedLayout.parse("21PPPPPWWWWWC"), "12345", 412)  # cheese, 0.412 kg
    rig.login()
    rig.send(ItemScanned(label))  # scanned before it is placed
    rig.weigh(414)
    snap = rig.station.snapshot()
    assert (snap.item_count, snap.total_cents) == (1, 824)  # 0.412 kg x 20.00/kg, from the label


def test_a_label_whose_weight_the_scale_contradicts_is_not_accepted() -> None:
    rig = make_rig()
    label = make_embedded(EmbeddedLayout.parse("21PPPPPWWWWWC"), "12345", 412)
    rig.login()
    rig.send(ItemScanned(label))
    rig.place(700)  # the label is for 412 g
    assert rig.station.snapshot().item_count == 0


def test_a_price_label_is_charged_its_printed_price() -> None:
    rig = make_rig()
    label = make_embedded(EmbeddedLayout.parse("22PPPPP$$$$$C"), "54321", 349)  # ham, 3.49
    rig.login()
    rig.place(201, barcodes=(label,))
    assert rig.station.snapshot().total_cents == 349


# ------------------------------------------------------------------ the platter


def test_drift_on_an_empty_platter_is_zeroed_between_shoppers() -> None:
    rig = make_rig()
    assert of(rig.send(WeightSettled(2.5, 2.5)), ZeroScale) == [ZeroScale(2.5)]  # creeping, below min_delta_g
    assert not of(rig.send(WeightSettled(0.0, -2.5)), ZeroScale)  # zeroed: nothing more to do
    assert not of(rig.send(WeightSettled(8.0, 8.0)), ZeroScale)  # put down at once: goods, not drift
    rig.send(WeightSettled(0.0, -8.0))
    assert not of(rig.send(WeightSettled(45.0, 45.0)), ZeroScale)  # beyond the auto-zero range


def test_drift_is_zeroed_at_session_start_but_never_under_a_basket() -> None:
    rig = make_rig()
    rig.weigh(2.0)  # below min_delta_g: drift
    assert of(rig.weigh(2.0), ZeroScale) == [ZeroScale(4.0)]  # the scale refused (say, unstable)
    assert of(rig.login(), ZeroScale) == [ZeroScale(4.0)]  # so the session start zeroes again
    rig.place(330, barcodes=(COLA_EAN,))
    assert not of(rig.weigh(2.0), ZeroScale)


def test_an_item_put_down_before_the_code_is_never_zeroed_away() -> None:
    rig = make_rig()
    assert not of(rig.weigh(12.0), ZeroScale)  # a delta above min_delta_g: goods, not drift
    out = rig.login()
    assert rig.station.session is None and of(out, ShowMessage)[-1] == ShowMessage(MESSAGES["clear_scale"])
    assert not events(out, AlarmRaised)  # an ordering mistake, not a forgotten bag


def test_goods_left_after_paying_raise_scale_not_empty_until_taken_off() -> None:
    rig = _rig(clear_timeout_s=30.0)
    _basket(rig)
    rig.send(ItemScanned(PAY))
    rig.clock.advance(10)
    assert not events(rig.send(StationTick()), AlarmRaised)  # the shopper is still packing
    rig.clock.advance(25)
    [raised] = events(rig.send(StationTick()), AlarmRaised)
    assert (raised.alarm, raised.source) == (AlarmKind.SCALE_NOT_EMPTY, "co1")
    assert (raised.detail, rig.station.scale_not_empty) == ("330 g left on the scale after a basket", True)
    assert of(rig.send(StationTick()), ShowMessage) == []  # raised once
    out = rig.login("m2")  # the next shopper cannot start on top of the forgotten bag
    assert rig.station.session is None and of(out, ShowMessage)[-1] == ShowMessage(MESSAGES["clear_scale"])
    rig.clock.advance(60)  # ... and gives up
    [cleared] = events(rig.take_all(), AlarmCleared)
    assert cleared.alarm is AlarmKind.SCALE_NOT_EMPTY and not rig.station.scale_not_empty
    assert rig.station.session is None  # a code scanned a minute ago does not open a session now
    rig.login("m2")
    assert rig.station.session is not None


def test_a_shopper_who_clears_the_platter_gets_their_session_without_scanning_again() -> None:
    rig = _rig()
    _basket(rig)
    rig.send(Pay())
    out = rig.login("m2")  # still on the receipt, the cola still on the scale
    assert rig.station.state is State.RECEIPT and not events(out, AlarmRaised)
    rig.clock.advance(3)
    rig.take_all()  # they lift the previous shopper's cola off
    assert (rig.station.state, rig.station.snapshot().member_id) == (State.SHOPPING, "m2")


def test_a_platter_emptied_in_time_raises_nothing() -> None:
    rig = _rig()
    _basket(rig)
    rig.send(Pay())
    rig.take_all()
    rig.clock.advance(120)
    assert not events(rig.send(StationTick()), AlarmRaised)
