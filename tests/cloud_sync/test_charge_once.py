"""Money is charged once per sale, whatever path the sale took (issue 12), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud_sync.db.models import WalletEntry
from cloud_sync.ingest.batch import BatchProcessor
from cloud_sync.ingest.classify import Incoming
from cloud_sync.services import sale_charges, wallet
from contracts.messages import SaleCompleted, SaleLine, dump
from contracts.payments import PaymentReply, PaymentRequest, parse_payment_reply
from contracts.topics import Topics
from tests.cloud_sync.conftest import count


def _member(engine: Engine, member_id: str, balance: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO members (id, name, tier, balance_cents, created_at) VALUES (:i, :i, 'standard', :b, :t)"),
            {"i": member_id, "b": balance, "t": datetime.now(UTC)},
        )


def _balance(engine: Engine, member_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT balance_cents FROM members WHERE id = :i"), {"i": member_id}).scalar_one())


def _request(sale_id: uuid.UUID, member: str = "alice", amount: int = 400) -> PaymentRequest:
    return PaymentRequest(
        request_id=uuid.uuid4(),
        store_id="s1",
        member_id=member,
        amount_cents=amount,
        sale_id=sale_id,
        expires_at=datetime.now(UTC) + timedelta(seconds=30),
    )


def _sale(sale_id: uuid.UUID, member: str = "alice", total: int = 400, **kw: Any) -> SaleCompleted:
    return SaleCompleted(
        store_id="s1",
        sale_id=sale_id,
        station_id="checkout-1",
        member_id=member,
        lines=[SaleLine(product_id="p1", quantity=1, unit_price_cents=total, total_cents=total)],
        subtotal_cents=total,
        total_cents=total,
        payment_mode=kw.pop("mode", "offline"),
        **kw,
    )


def _pay(processor: BatchProcessor, req: PaymentRequest) -> PaymentReply:
    result = processor.process([Incoming(Topics("s1").pay_request, dump(req))])
    [(_topic, payload)] = result.replies
    return parse_payment_reply(payload)


def _event(processor: BatchProcessor, sale: SaleCompleted) -> None:
    result = processor.process([Incoming(Topics("s1").event(sale.type), dump(sale))])
    assert result.dead_letters == 0


def _sale_charges(engine: Engine) -> int:
    return count(engine, "SELECT count(*) FROM wallet_entries WHERE kind IN ('charge', 'offline_charge')")


def _alerts(engine: Engine, kind: str) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT message FROM alerts WHERE kind = :k"), {"k": kind})]


@pytest.fixture
def processor(engine: Engine) -> BatchProcessor:
    """A batch processor on the test database with member alice holding 10.00."""
    _member(engine, "alice", 1000)
    return BatchProcessor(engine)


def test_a_lost_reply_then_the_offline_fallback_charges_the_wallet_once(
    processor: BatchProcessor, engine: Engine
) -> None:
    sale_id = uuid.uuid4()
    reply = _pay(processor, _request(sale_id))  # approved and charged; the reply never reaches the station
    assert reply.status == "approved"
    # The station timed out, fell back offline and reports the same sale as an offline one.
    offline = _sale(sale_id, seq=1)
    _event(processor, offline)
    _event(processor, offline.model_copy(update={"event_id": uuid.uuid4(), "seq": 2}))  # agent retry
    _event(processor, offline)  # duplicate delivery
    assert _balance(engine, "alice") == 600
    assert _sale_charges(engine) == 1
    assert _alerts(engine, "charge_mismatch") == []
    with engine.connect() as conn:
        auth = conn.execute(text("SELECT authorization_id FROM sales")).scalar_one()
    assert auth == reply.authorization_id  # the reconciled sale names the charge that paid it


def test_an_offline_sale_that_disagrees_with_the_charge_is_alerted_not_charged(
    processor: BatchProcessor, engine: Engine
) -> None:
    _member(engine, "bob", 1000)
    more, other = uuid.uuid4(), uuid.uuid4()
    assert _pay(processor, _request(more)).status == "approved"
    assert _pay(processor, _request(other)).status == "approved"
    _event(processor, _sale(more, total=500, seq=1))  # a different amount for the same sale
    _event(processor, _sale(other, member="bob", seq=2))  # the same sale id for another member
    assert (_balance(engine, "alice"), _balance(engine, "bob")) == (200, 1000)
    assert _sale_charges(engine) == 2
    messages = _alerts(engine, "charge_mismatch")
    assert len(messages) == 2
    assert any("400 cents" in m and "asks 500 cents" in m for m in messages)
    assert any("member alice" in m and "member bob" in m for m in messages)


def test_a_new_request_for_a_sale_already_charged_is_answered_from_that_charge(
    processor: BatchProcessor, engine: Engine
) -> None:
    sale_id = uuid.uuid4()
    first = _pay(processor, _request(sale_id))
    again = _pay(processor, _request(sale_id))  # new request id for the same sale (shopper paid again)
    assert (again.status, again.reason) == ("approved", "already_charged")
    assert again.authorization_id == first.authorization_id
    changed = _pay(processor, _request(sale_id, amount=300))
    assert (changed.status, changed.reason) == ("declined", "already_charged")
    assert _balance(engine, "alice") == 600
    assert len(_alerts(engine, "charge_mismatch")) == 1
    # The online sale quoting the authorisation reconciles without any alert.
    _event(processor, _sale(sale_id, mode="online", authorization_id=first.authorization_id, seq=1))
    assert _alerts(engine, "payment_mismatch") == []
    assert _sale_charges(engine) == 1


def test_a_late_request_after_the_offline_sale_is_not_charged(processor: BatchProcessor, engine: Engine) -> None:
    sale_id = uuid.uuid4()
    _event(processor, _sale(sale_id, seq=1))
    late = _pay(processor, _request(sale_id))
    assert (late.status, late.reason) == ("declined", "already_charged")
    assert _balance(engine, "alice") == 600
    assert _alerts(engine, "charge_mismatch") == []


def test_the_database_refuses_a_second_charge_for_one_sale(engine: Engine) -> None:
    _member(engine, "alice", 1000)
    sale_id = uuid.uuid4()
    now = datetime.now(UTC)
    rows = [
        wallet.entry_row(
            member_id="alice",
            amount_cents=-400,
            kind=kind,
            reference=str(uuid.uuid4()),
            balance_after=600,
            store_id="s1",
            created_at=now,
            sale_id=sale_id,
        )
        for kind in ("charge", "offline_charge")
    ]
    with Session(engine) as session, session.begin():
        session.add(WalletEntry(**rows[0]))
    with Session(engine) as session:
        session.add(WalletEntry(**rows[1]))
        with pytest.raises(IntegrityError):
            session.commit()
    assert count(engine, "SELECT count(*) FROM wallet_entries") == 1


def test_a_charge_that_races_past_the_check_is_refused_then_reconciled(
    processor: BatchProcessor, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits the charge between the check and the insert: retried, then reconciled."""
    sale_id = uuid.uuid4()
    assert _pay(processor, _request(sale_id)).status == "approved"
    real = sale_charges.find_sale_charges
    missed: list[int] = []

    def miss_once(session: Session, keys: Any) -> dict[Any, Any]:
        if not missed:
            missed.append(1)
            return {}
        return real(session, keys)

    monkeypatch.setattr(wallet, "find_sale_charges", miss_once)
    _event(processor, _sale(sale_id, seq=1))
    assert missed == [1]
    assert _balance(engine, "alice") == 600
    assert _sale_charges(engine) == 1
    assert count(engine, "SELECT count(*) FROM dead_letters") == 0


def test_two_writers_racing_the_same_sales_charge_each_once(db_url: str, engine: Engine) -> None:
    """The online authorisation and the offline sale of each sale reach two workers at once."""
    from cloud_sync.db.session import make_engine

    _member(engine, "alice", 100_000)
    engines = [make_engine(db_url) for _ in range(2)]
    workers = [BatchProcessor(e) for e in engines]
    sales = [uuid.uuid4() for _ in range(12)]
    errors: list[BaseException] = []
    try:
        for sale_id in sales:
            go = threading.Barrier(2)
            jobs = [
                lambda p=workers[0], s=sale_id: p.process([Incoming(Topics("s1").pay_request, dump(_request(s)))]),
                lambda p=workers[1], s=sale_id: p.process(
                    [Incoming(Topics("s1").event("sale_completed"), dump(_sale(s, seq=1)))]
                ),
            ]

            def run(job: Any, go: threading.Barrier = go) -> None:
                try:
                    go.wait(10)
                    job()
                except BaseException as err:  # pragma: no cover - reported below
                    errors.append(err)

            threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
    finally:
        for e in engines:
            e.dispose()
    assert errors == []
    assert _sale_charges(engine) == len(sales)
    assert _balance(engine, "alice") == 100_000 - 400 * len(sales)
    assert count(engine, "SELECT count(*) FROM dead_letters") == 0
    assert _alerts(engine, "charge_mismatch") == []


def test_an_online_sale_without_the_authorisation_id_is_matched_by_its_charge(
    processor: BatchProcessor, engine: Engine
) -> None:
    """The station completes on an approval whose id it did not get; the cloud finds the charge."""
    paid, unpaid = uuid.uuid4(), uuid.uuid4()
    assert _pay(processor, _request(paid)).status == "approved"
    _event(processor, _sale(paid, mode="online", seq=1))
    _event(processor, _sale(unpaid, mode="online", seq=2))
    [problem] = _alerts(engine, "payment_mismatch")
    assert str(unpaid) in problem
    assert _balance(engine, "alice") == 600
