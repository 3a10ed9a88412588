"""Random shopper/cloud input sequences: the station never crashes and never sells without payment."""

from __future__ import annotations

import uuid
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.messages import SaleCompleted
from edge_agent.domain.catalog import Coupon
from edge_agent.domain.checkout import (
    Abandon,
    AuthorizationResult,
    ConnectivityChanged,
    Evidence,
    ItemScanned,
    MemberCodeScanned,
    Pay,
    RequestAuthorization,
    RequestEvidence,
    ShopperChose,
    StaffResolved,
    State,
    StationAction,
    StationTick,
    VisionStatus,
    WeightSettled,
)
from tests.edge_agent.checkout.kit import COLA_EAN, PRODUCTS, events, make_rig, of

LIMIT = 450
WEIGHTS = [330.0, 150.0, 100.0, 1040.0, 640.0, 1234.0, 200.0, 250.0, 80.0, 2.0]
LABELS = [*(p.id for p in PRODUCTS), "Chips", "Cola", "unknown"]
CODES = [COLA_EAN, "2112345012346", "2254321004508", "96385074", "4006381333932", "garbage"]

good = st.tuples(st.just("good"), st.sampled_from(["chips", "cola", "apple"]), st.floats(-3, 3))
auth = st.tuples(
    st.just("auth"),
    st.sampled_from(["approved", "approved", "declined", "error", "expired", "coupon_unavailable"]),
    st.booleans() | st.just(True),
)
checkout = st.tuples(st.just("checkout"), st.sampled_from(["approved", "approved", "declined", "error", "none"]))
ops = st.one_of(
    good,
    good,
    good,
    auth,
    checkout,
    checkout,
    st.tuples(st.just("login"), st.sampled_from(["m1", "m2", "bad"])),
    st.tuples(
        st.just("place"),
        st.sampled_from(WEIGHTS),
        st.floats(-6, 6),
        st.lists(st.sampled_from(CODES[:3]), max_size=1),
        st.lists(st.tuples(st.sampled_from(LABELS), st.floats(0, 1)), max_size=3),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
    st.tuples(st.just("remove"), st.sampled_from(WEIGHTS), st.floats(-6, 6)),
    st.tuples(st.just("choose"), st.sampled_from([None, *(p.id for p in PRODUCTS)])),
    st.tuples(st.just("scan"), st.sampled_from(CODES)),
    st.tuples(st.just("pay")),
    st.tuples(st.just("pay")),
    st.tuples(st.just("pay")),
    st.tuples(st.just("online"), st.booleans()),
    st.tuples(st.just("vision"), st.booleans(), st.booleans()),
    st.tuples(st.just("staff"), st.sampled_from([None, "chips", "apple"]), st.sampled_from([None, 2])),
    st.tuples(st.just("abandon")),
    st.tuples(st.just("tick"), st.sampled_from([0.5, 3.0, 6.0, 11.0, 60.0])),
    st.tuples(st.just("evidence"), st.integers(0, 3), st.booleans()),
)


# Mostly clean baskets and a flaky cloud: many sales, online and offline, to check the payment rule on.
cloud_ops = st.one_of(
    good,
    good,
    checkout,
    checkout,
    auth,
    st.tuples(st.just("pay")),
    st.tuples(st.just("online"), st.booleans()),
    st.tuples(st.just("tick"), st.sampled_from([0.5, 3.0, 6.0, 11.0])),
    st.tuples(st.just("login"), st.sampled_from(["m1", "m2"])),
    st.tuples(st.just("remove"), st.sampled_from([150.0, 330.0]), st.floats(-3, 3)),
)


@settings(max_examples=75, deadline=None)
@given(st.lists(ops, min_size=12, max_size=50), st.booleans(), st.sampled_from(["m1", "m2"]))
def test_random_sequences_never_crash_and_never_sell_unpaid(steps: list[tuple], online: bool, first: str) -> None:
    drive(steps, online, first)


@settings(max_examples=75, deadline=None)
@given(st.lists(cloud_ops, min_size=12, max_size=50), st.booleans(), st.sampled_from(["m1", "m2"]))
def test_flaky_cloud_never_sells_without_authorization_or_within_limit(
    steps: list[tuple],
    online: bool,
    first: str,
) -> None:
    drive(steps, online, first)


def drive(steps: list[tuple], online: bool, first: str) -> None:
    """Run ``steps`` on a fresh station and check every emitted sale."""
    rig = make_rig(online=online, floor_limit_cents=LIMIT, coupons=(Coupon("c1", "m1", "percent", 10),))
    station, clock = rig.station, rig.clock
    requests: dict[uuid.UUID, RequestAuthorization] = {}
    approved: dict[uuid.UUID, str] = {}  # request id → authorization id we answered
    offline_spent: Counter[tuple[str, str]] = Counter()
    sold: set[uuid.UUID] = set()
    last_seq = 0

    def run(event: object) -> list[StationAction]:
        nonlocal last_seq
        actions = rig.send(event)
        for r in of(actions, RequestAuthorization):
            requests[r.request_id] = r
        for r in of(actions, RequestEvidence):
            last_seq = r.item_seq
        for s in events(actions, SaleCompleted):
            check_sale(s)
        snap = station.snapshot()
        assert snap.state is station.state
        assert snap.total_cents >= 0
        if station.state is State.IDLE:
            assert snap.member_id is None
        return actions

    def check_sale(s: SaleCompleted) -> None:
        assert s.sale_id not in sold
        sold.add(s.sale_id)
        assert s.subtotal_cents == sum(line.total_cents for line in s.lines)
        assert s.total_cents == s.subtotal_cents - s.discount_cents >= 0
        assert s.lines
        if s.payment_mode == "online":
            matching = [r for r in requests.values() if r.sale_id == s.sale_id and r.request_id in approved]
            assert matching, "online sale without an approved authorization"
            assert matching[-1].amount_cents == s.total_cents
            assert s.authorization_id == approved[matching[-1].request_id]
        else:
            key = (rig.ledger.night_of(s.ts.timestamp()), s.member_id)
            offline_spent[key] += s.total_cents
            assert offline_spent[key] <= LIMIT, "offline sale over the floor limit"

    for step in [("login", first), *steps]:
        kind = step[0]
        if kind == "login":
            text = "SM1.nope" if step[1] == "bad" else rig.members.code(step[1], clock.wall)
            run(MemberCodeScanned(text))
        elif kind == "place":
            _, grams, noise, codes, preds, camera_ok, model_ok, answer = step
            delta = grams + noise
            rig.scale_g += delta
            actions = run(WeightSettled(rig.scale_g, delta))
            asked = of(actions, RequestEvidence)
            if asked and answer:
                run(Evidence(asked[0].item_seq, tuple(codes), tuple(preds), camera_ok, model_ok))
        elif kind == "good":
            product, noise = step[1], step[2]
            delta = {"chips": 150.0, "cola": 330.0, "apple": 640.0}[product] + noise
            rig.scale_g += delta
            asked = of(run(WeightSettled(rig.scale_g, delta)), RequestEvidence)
            if asked:
                codes = (COLA_EAN,) if product == "cola" else ()
                run(Evidence(asked[0].item_seq, codes, ((product, 0.95),) if product != "cola" else ()))
        elif kind == "checkout":
            asked_pay = of(run(Pay()), RequestAuthorization)
            if asked_pay and step[1] != "none":
                rid = asked_pay[-1].request_id
                if step[1] == "approved":
                    approved[rid] = f"auth-{len(approved)}"
                    run(AuthorizationResult(rid, True, approved[rid]))
                else:
                    run(AuthorizationResult(rid, False, reason=step[1], error=step[1] == "error"))
        elif kind == "remove":
            delta = min(step[1] + step[2], rig.scale_g)
            rig.scale_g -= delta
            run(WeightSettled(rig.scale_g, -delta))
        elif kind == "choose":
            run(ShopperChose(step[1]))
        elif kind == "scan":
            run(ItemScanned(step[1]))
        elif kind == "pay":
            run(Pay())
        elif kind == "auth":
            outcome, to_last = step[1], step[2]
            rid = next(reversed(requests)) if (to_last and requests) else uuid.uuid4()
            if outcome == "approved":
                auth_id = f"auth-{len(approved)}"
                approved[rid] = auth_id
                run(AuthorizationResult(rid, True, auth_id))
            else:
                run(AuthorizationResult(rid, False, reason=outcome, error=outcome == "error"))
        elif kind == "online":
            run(ConnectivityChanged(step[1]))
        elif kind == "vision":
            run(VisionStatus(step[1], step[2]))
        elif kind == "staff":
            run(StaffResolved(step[1], step[2]))
        elif kind == "abandon":
            run(Abandon())
        elif kind == "tick":
            clock.advance(step[1])
            run(StationTick())
        else:
            run(Evidence(max(last_seq - step[1], 0), (), (("Chips", 0.9),), step[2], True))
