"""Payment: offline floor limit, online authorisation, timeouts and coupons."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from contracts.messages import AlarmKind, AlarmRaised, SaleCompleted, SaleLine
from edge_agent.domain.catalog import Catalog, Coupon, Promotion
from edge_agent.domain.checkout import (
    Abandon,
    AuthorizationResult,
    CatalogUpdated,
    ConnectivityChanged,
    Pay,
    RequestAuthorization,
    ShowMessage,
    State,
    StationTick,
)
from edge_agent.domain.payment import PaymentConfig, PaymentLedger, compute_totals
from tests.edge_agent.checkout.kit import COLA_EAN, PRODUCTS, Rig, events, make_rig, of
from tests.edge_agent.helpers import STORE


def shop(rig: Rig, member: str = "m1", chips: int = 1, cola: int = 1) -> None:
    """Log in and put ``chips`` chips (200) and ``cola`` colas (150) on the scale."""
    rig.login(member)
    for _ in range(chips):
        rig.place(150, predictions=(("Chips", 0.95),))
    for _ in range(cola):
        rig.place(330, barcodes=(COLA_EAN,))


def finish(rig: Rig) -> None:
    """Let the receipt time out; the shopper takes their goods off the scale."""
    rig.clock.advance(60)
    rig.send(StationTick())
    rig.take_all()


def sale(actions: list) -> SaleCompleted:
    found = events(actions, SaleCompleted)
    assert len(found) == 1
    return found[0]


# ------------------------------------------------------------------ offline


def test_offline_payment_within_floor_limit_is_an_offline_sale() -> None:
    rig = make_rig(online=False, floor_limit_cents=3000)
    shop(rig)
    s = sale(rig.send(Pay()))
    assert (s.payment_mode, s.authorization_id, s.total_cents, s.subtotal_cents) == ("offline", None, 350, 350)
    assert (s.member_id, s.station_id, s.store_id) == ("m1", "co1", STORE)
    assert [(line.product_id, line.total_cents) for line in s.lines] == [("chips", 200), ("cola", 150)]
    assert isinstance(s.event_id, uuid.UUID) and isinstance(s.sale_id, uuid.UUID)
    assert rig.station.state is State.RECEIPT
    assert rig.ledger.offline_spent("m1", rig.clock.wall) == 350


def test_offline_payment_over_the_floor_limit_is_refused_then_a_smaller_basket_passes() -> None:
    rig = make_rig(online=False, floor_limit_cents=300)
    shop(rig)
    refused = rig.send(Pay())
    assert not events(refused, SaleCompleted)
    text = of(refused, ShowMessage)[0].text
    assert "limit 3.00" in text and "3.00 left" in text
    assert rig.station.state is State.PAYMENT
    rig.weigh(-330)  # take the cola back: shopping again
    assert rig.station.state is State.SHOPPING
    assert sale(rig.send(Pay())).total_cents == 200


def test_offline_limit_is_per_member_per_night_and_resets() -> None:
    rig = make_rig(online=False, floor_limit_cents=500)
    shop(rig, "m1")
    sale(rig.send(Pay()))
    finish(rig)
    shop(rig, "m1")
    assert not events(rig.send(Pay()), SaleCompleted)  # 350 + 350 > 500
    rig.send(Abandon())
    rig.take_all()
    shop(rig, "m2")
    sale(rig.send(Pay()))  # another member has their own limit
    finish(rig)
    rig.clock.advance(24 * 3600)  # the next night
    del rig.members.phones["m1"]  # yesterday's pass has expired: the app fetched a new one
    shop(rig, "m1")
    sale(rig.send(Pay()))


def test_night_boundary_is_the_reset_hour_local_time() -> None:
    ledger = PaymentLedger(PaymentConfig(night_reset_hour=12, timezone="Europe/Berlin"))
    before = datetime(2026, 3, 10, 11, 59, tzinfo=UTC).timestamp()  # 12:59 in Berlin
    night = datetime(2026, 3, 10, 23, 0, tzinfo=UTC).timestamp()
    morning = datetime(2026, 3, 11, 9, 0, tzinfo=UTC).timestamp()  # 10:00 local, same night
    assert ledger.night_of(night) == ledger.night_of(morning) == "2026-03-10"
    assert ledger.night_of(before) == "2026-03-10"
    assert ledger.night_of(datetime(2026, 3, 10, 10, 30, tzinfo=UTC).timestamp()) == "2026-03-09"


def test_ledger_rebuilds_from_outbox_sales_idempotently() -> None:
    rig = make_rig(online=False, floor_limit_cents=1000)
    shop(rig)
    s = sale(rig.send(Pay()))
    fresh = PaymentLedger(PaymentConfig(floor_limit_cents=1000))
    assert fresh.record_sale(s)
    assert not fresh.record_sale(s)  # replaying twice counts once
    assert fresh.offline_remaining("m1", rig.clock.wall) == 650


# ------------------------------------------------------------------ online


def test_online_approved_completes_an_online_sale() -> None:
    rig = make_rig(online=True, auth_timeout_s=10)
    shop(rig)
    actions = rig.send(Pay())
    req = of(actions, RequestAuthorization)[0]
    assert (req.member_id, req.amount_cents, req.coupon_ids) == ("m1", 350, ())
    assert req.expires_at == datetime.fromtimestamp(rig.clock.wall + 10, UTC)
    assert rig.station.state is State.AUTHORIZING
    assert not events(actions, SaleCompleted)
    s = sale(rig.send(AuthorizationResult(req.request_id, True, "auth-42")))
    assert (s.payment_mode, s.authorization_id, s.sale_id) == ("online", "auth-42", req.sale_id)
    assert rig.ledger.offline_spent("m1", rig.clock.wall) == 0


def test_online_declined_shows_reason_and_stays_in_payment() -> None:
    rig = make_rig(online=True)
    shop(rig)
    first = rig.send(Pay())
    req = of(first, RequestAuthorization)[0]
    declined = rig.send(AuthorizationResult(req.request_id, False, reason="insufficient_funds"))
    assert of(declined, ShowMessage)[0].text == "Payment declined: insufficient funds"
    assert not events(declined, SaleCompleted)
    assert rig.station.state is State.PAYMENT
    retry = of(rig.send(Pay()), RequestAuthorization)[0]
    assert retry.request_id != req.request_id and retry.sale_id == req.sale_id
    assert not events(rig.send(AuthorizationResult(req.request_id, True, "stale")), SaleCompleted)
    assert sale(rig.send(AuthorizationResult(retry.request_id, True, "auth-2"))).authorization_id == "auth-2"


def test_authorization_timeout_falls_back_to_the_offline_rule() -> None:
    rig = make_rig(online=True, auth_timeout_s=10, auth_retry_s=3)
    shop(rig)
    req = of(rig.send(Pay()), RequestAuthorization)[0]
    rig.clock.advance(3.5)
    resent = of(rig.send(StationTick()), RequestAuthorization)
    assert [r.request_id for r in resent] == [req.request_id]  # same id: never charged twice
    rig.clock.advance(7)
    s = sale(rig.send(StationTick()))
    assert (s.payment_mode, s.sale_id) == ("offline", req.sale_id)
    assert not events(rig.send(AuthorizationResult(req.request_id, True, "late")), SaleCompleted)


def test_authorization_timeout_over_the_limit_is_refused() -> None:
    rig = make_rig(online=True, floor_limit_cents=100, auth_timeout_s=10)
    shop(rig)
    rig.send(Pay())
    rig.clock.advance(11)
    actions = rig.send(StationTick())
    assert not events(actions, SaleCompleted)
    assert "offline limit" in of(actions, ShowMessage)[0].text
    assert rig.station.state is State.PAYMENT


@pytest.mark.parametrize(("error", "reason"), [(True, "broker"), (False, "expired")])
def test_cloud_error_or_expired_uses_the_offline_rule(error: bool, reason: str) -> None:
    rig = make_rig(online=True)
    shop(rig)
    req = of(rig.send(Pay()), RequestAuthorization)[0]
    s = sale(rig.send(AuthorizationResult(req.request_id, False, reason=reason, error=error)))
    assert s.payment_mode == "offline"


def test_going_offline_while_waiting_still_waits_for_the_timeout() -> None:
    rig = make_rig(online=True, auth_timeout_s=10)
    shop(rig)
    rig.send(Pay())
    rig.send(ConnectivityChanged(False))
    assert not events(rig.send(StationTick()), SaleCompleted)  # the request may still reach the cloud
    assert of(rig.send(Abandon()), ShowMessage)[0].text.startswith("Payment in progress")
    rig.clock.advance(10)
    assert sale(rig.send(StationTick())).payment_mode == "offline"


def test_offline_flag_pays_offline_at_once() -> None:
    rig = make_rig(online=True)
    rig.send(ConnectivityChanged(False))
    shop(rig)
    actions = rig.send(Pay())
    assert not of(actions, RequestAuthorization)
    assert sale(actions).payment_mode == "offline"


def test_item_placed_while_authorizing_is_not_sold_and_raises_an_alert() -> None:
    rig = make_rig(online=True)
    shop(rig)
    req = of(rig.send(Pay()), RequestAuthorization)[0]
    assert rig.weigh(150) == []  # deferred while the amount is being charged
    actions = rig.send(AuthorizationResult(req.request_id, True, "a1"))
    assert sale(actions).total_cents == 350
    raised = [e for e in events(actions, AlarmRaised) if e.alarm is AlarmKind.STAFF_REVIEW]
    assert len(raised) == 1 and "150 g placed while paying was not paid" in raised[0].detail
    assert rig.station.state is State.RECEIPT


# ------------------------------------------------------------------ coupons


def coupon(**kw: object) -> Coupon:
    values: dict[str, object] = {"id": "c1", "member_id": "m1", "kind": "percent", "value": 10, **kw}
    return Coupon(**values)  # type: ignore[arg-type]


def test_coupon_applies_once_and_reuse_is_refused() -> None:
    rig = make_rig(online=False, coupons=(coupon(),))
    shop(rig)
    s = sale(rig.send(Pay()))
    assert (s.subtotal_cents, s.discount_cents, s.total_cents, s.coupon_ids) == (350, 35, 315, ["c1"])
    finish(rig)
    shop(rig)
    again = sale(rig.send(Pay()))
    assert (again.discount_cents, again.coupon_ids) == (0, [])
    assert rig.ledger.redeemed("c1")


def test_online_payment_request_carries_the_coupon() -> None:
    rig = make_rig(online=True, coupons=(coupon(kind="amount", value=100),))
    shop(rig)
    req = of(rig.send(Pay()), RequestAuthorization)[0]
    assert (req.amount_cents, req.coupon_ids) == (250, ("c1",))


def test_coupon_rules_minimum_member_and_validity() -> None:
    now = 1_790_000_000.0
    ledger = PaymentLedger(
        coupons=[
            coupon(id="min", min_total_cents=1000),
            coupon(id="other", member_id="m2"),
            coupon(id="future", valid_from=now + 10),
            coupon(id="past", valid_until=now - 10),
            coupon(id="ok", kind="amount", value=50),
        ]
    )
    sale_id = uuid.uuid4()
    assert [c.id for c in ledger.eligible("m1", 500, now, sale_id)] == ["ok"]
    assert [c.id for c in ledger.eligible("m1", 1000, now, sale_id)] == ["min", "ok"]


def test_best_coupons_first_and_discount_never_above_subtotal() -> None:
    big = coupon(id="big", kind="amount", value=900)
    pct = coupon(id="pct", kind="percent", value=50)
    assert compute_totals(400, [pct, big], max_coupons=1).coupon_ids == ("big",)
    t = compute_totals(400, [pct, big], max_coupons=2)
    assert (t.discount_cents, t.total_cents, t.coupon_ids) == (400, 0, ("big",))  # pct would add nothing
    assert compute_totals(999, [coupon(value=10)], 1).discount_cents == 99  # percent rounds down


def test_coupon_reserved_by_one_station_is_not_used_by_another() -> None:
    a = make_rig(online=True, coupons=(coupon(),), station_id="co1")
    b = make_rig(online=True, ledger=a.ledger, members=a.members, clock=a.clock, station_id="co2")
    shop(a)
    assert of(a.send(Pay()), RequestAuthorization)[0].coupon_ids == ("c1",)
    shop(b)
    assert of(b.send(Pay()), RequestAuthorization)[0].coupon_ids == ()


def test_coupon_unavailable_decline_drops_the_coupon_on_retry() -> None:
    rig = make_rig(online=True, coupons=(coupon(),))
    shop(rig)
    req = of(rig.send(Pay()), RequestAuthorization)[0]
    rig.send(AuthorizationResult(req.request_id, False, reason="coupon_unavailable"))
    retry = of(rig.send(Pay()), RequestAuthorization)[0]
    assert (retry.coupon_ids, retry.amount_cents) == ((), 350)


def test_abandon_releases_a_reserved_coupon() -> None:
    a = make_rig(online=False, floor_limit_cents=0, coupons=(coupon(),))
    shop(a)
    a.send(Pay())  # refused offline (limit 0) but the coupon is reserved
    other = uuid.uuid4()
    assert a.ledger.eligible("m1", 350, a.clock.wall, other) == []
    a.send(Abandon())
    assert [c.id for c in a.ledger.eligible("m1", 350, a.clock.wall, other)] == ["c1"]


def test_sale_lines_invariants() -> None:
    rig = make_rig(online=False)
    rig.login()
    rig.place(640, predictions=(("apple", 0.95),))
    rig.place(1236, barcodes=("2112345012346",))
    s = sale(rig.send(Pay()))
    assert all(
        isinstance(line, SaleLine) and line.total_cents == line.quantity * line.unit_price_cents for line in s.lines
    )
    assert [(line.product_id, line.weight_g, line.total_cents) for line in s.lines] == [
        ("apple", 640.0, 192),
        ("cheese", 1234.0, 2468),
    ]


# ------------------------------------------------------------------ promotions


def promo(**kw: object) -> Promotion:
    values: dict[str, object] = {
        "id": "promo-chips",
        "name": "Chips -25 %",
        "product_ids": frozenset({"chips"}),
        "kind": "percent",
        "value": 25,
        **kw,
    }
    return Promotion(**values)  # type: ignore[arg-type]


def test_promotion_rules_per_line() -> None:
    now = 1_000.0
    cat = Catalog(
        [],
        promotions=[
            promo(),
            promo(id="two-for-less", kind="amount", value=120, min_quantity=2),
            promo(id="later", value=90, valid_from=now + 1),
            promo(id="over", value=90, valid_from=0, valid_until=now),
            promo(id="cola", product_ids=frozenset({"cola"}), kind="amount", value=10_000),
        ],
    )
    assert cat.promotion_discount([("chips", 1, 200)], now) == (50, ("promo-chips",))  # 25 %; not started/ended
    assert cat.promotion_discount([("chips", 2, 400)], now) == (120, ("two-for-less",))  # best one, not both
    assert cat.promotion_discount([("cola", 1, 150)], now) == (150, ("cola",))  # never below zero
    assert cat.promotion_discount([("milk", 5, 500)], now) == (0, ())
    assert cat.promotion_discount([("chips", 1, 200)], now + 1) == (180, ("later",))


def test_promotion_applies_before_the_coupon_and_is_recorded_on_the_sale() -> None:
    rig = make_rig(online=False, coupons=(coupon(),))  # 10 % coupon
    rig.send(CatalogUpdated(Catalog(PRODUCTS, version=2, promotions=[promo()])))
    shop(rig)  # chips 200 (-25 % = 50), cola 150
    s = sale(rig.send(Pay()))
    # 350 - 50 = 300, then 10 % coupon = 30
    assert (s.subtotal_cents, s.discount_cents, s.total_cents) == (350, 80, 270)
    assert (s.promotion_ids, s.promotion_discount_cents, s.coupon_ids) == (["promo-chips"], 50, ["c1"])
    assert rig.ledger.offline_spent("m1", rig.clock.wall) == 270


def test_compute_totals_never_discounts_past_zero() -> None:
    t = compute_totals(100, [coupon(kind="amount", value=500)], 1, promotion_cents=80, promotion_ids=("p",))
    assert (t.discount_cents, t.total_cents, t.promotion_cents, t.coupon_ids) == (100, 0, 80, ("c1",))
    assert compute_totals(100, [], 1, promotion_cents=0, promotion_ids=("p",)).promotion_ids == ()


def test_synced_catalog_promotions_reach_the_checkout() -> None:
    from datetime import timedelta

    from contracts.sync import CatalogProduct, CatalogSnapshot
    from contracts.sync import Promotion as SyncedPromotion
    from edge_agent.checkout_bootstrap import catalog_from_sync
    from edge_agent.domain.synced import SyncedData

    start = datetime(2026, 11, 1, tzinfo=UTC)
    synced = SyncedData()
    snapshot = CatalogSnapshot(
        version=3,
        products=[CatalogProduct(id="chips", name="Chips", price_cents=200)],
        promotions=[
            SyncedPromotion(
                id="night",
                name="Night -10 %",
                product_ids=["chips"],
                kind="percent",
                value=10,
                min_quantity=2,
                effective_from=start,
                effective_until=start + timedelta(days=1),
            )
        ],
    )
    assert synced.apply(snapshot, snapshot=True) is not None
    cat, _ = catalog_from_sync(synced)
    inside = (start + timedelta(hours=3)).timestamp()
    assert cat.promotion_discount([("chips", 2, 400)], inside) == (40, ("night",))
    assert cat.promotion_discount([("chips", 1, 200)], inside) == (0, ())
    assert cat.promotion_discount([("chips", 2, 400)], inside + 86_400) == (0, ())
