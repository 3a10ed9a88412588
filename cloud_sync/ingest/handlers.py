"""Turn a batch of MQTT messages into database rows in one transaction.

``BatchProcessor.process`` validates every message against ``contracts`` (pure, before touching
the database), then writes in one transaction: events with ``INSERT ... ON CONFLICT DO NOTHING
RETURNING event_id`` so only events never seen before have effects (entries, sales, stock,
wallet, coupons, alarms, sync acknowledgements), availability and retained state, payment
authorisations and dead letters. The caller acknowledges the messages only after it returns.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, Table, case, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.bulk import insert_ignore_rows
from cloud_sync.db.dialect import upsert
from cloud_sync.db.models import (
    Alarm,
    CouponRow,
    DeadLetter,
    Entry,
    Event,
    Member,
    Payment,
    Product,
    Sale,
    StockMovement,
    Store,
    StoreDevice,
    StoreState,
    StoreSync,
    WalletEntry,
)
from cloud_sync.services.alerts import raise_alert
from cloud_sync.services.payments import authorize
from cloud_sync.services.sync import record_change
from contracts.errors import ContractError
from contracts.messages import (
    AccessDenied,
    AccessGranted,
    AlarmCleared,
    AlarmRaised,
    CheckoutAbandoned,
    DeviceStatus,
    DoorState,
    ModeChanged,
    SaleCompleted,
    SyncApplied,
    dump,
)
from contracts.payments import PaymentRequest
from contracts.topics import (
    AVAILABILITY,
    DEVICE_STATE,
    DOOR_STATE,
    EVENT,
    ONLINE,
    PAY_REQUEST,
    STATE,
    Topics,
    UnknownTopic,
    route,
)

log = logging.getLogger(__name__)
MAX_DEAD_PAYLOAD = 64 * 1024
DEFAULT_LOW_STOCK = 5
RESTOCK_CACHE_S = 5.0


def _aware(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _t(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


@dataclass(frozen=True)
class Incoming:
    """One MQTT message as received (``mid``/``qos`` are needed to acknowledge it)."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 1
    retain: bool = False
    received: float = field(default_factory=time.time)


@dataclass
class BatchResult:
    """What one batch did; ``replies`` are (topic, payload) to publish after commit."""

    events: int = 0
    new_events: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    states: int = 0
    payments: int = 0
    replies: list[tuple[str, bytes]] = field(default_factory=list)
    event_ids: list[uuid.UUID] = field(default_factory=list)


@dataclass
class _Classified:
    events: list[tuple[Incoming, Any]] = field(default_factory=list)
    availability: list[tuple[str, bool, Incoming]] = field(default_factory=list)
    states: list[tuple[str, str, Any, Incoming]] = field(default_factory=list)
    payments: list[tuple[PaymentRequest, Incoming]] = field(default_factory=list)
    dead: list[tuple[Incoming, str, str | None]] = field(default_factory=list)


def classify(messages: Sequence[Incoming]) -> _Classified:
    """Validate each message against the contract, without touching the database."""
    out = _Classified()
    for msg in messages:
        try:
            r = route(msg.topic)
        except UnknownTopic as err:
            if err.store_id is None:
                out.dead.append((msg, str(err), None))
            else:
                out.dead.append((msg, str(err)[:500], err.store_id))
            continue
        store = r.store_id
        try:
            if r.spec is EVENT:
                out.events.append((msg, EVENT.parse(r, msg.payload)))
            elif r.spec is AVAILABILITY:
                out.availability.append((store, AVAILABILITY.parse(r, msg.payload) == ONLINE, msg))
            elif r.spec in (DOOR_STATE, DEVICE_STATE, STATE):
                out.states.append((store, r.rest, r.spec.parse(r, msg.payload), msg))
            elif r.spec is PAY_REQUEST:
                out.payments.append((PAY_REQUEST.parse(r, msg.payload), msg))
            else:
                raise ContractError(f"unknown topic {r.kind}/{r.rest}")
        except (ContractError, ValidationError, ValueError) as err:
            out.dead.append((msg, str(err)[:500], store))
    return out


def _is_transient(err: DBAPIError) -> bool:
    """Return whether retrying later may succeed (connection lost, lock, deadlock)."""
    if err.connection_invalidated:
        return True
    if isinstance(err, OperationalError):
        return True
    code = getattr(err.orig, "sqlstate", None)
    return code in ("40001", "40P01", "55P03")


def _abandoned_alert(session: Session, e: CheckoutAbandoned) -> None:
    """Tell an operator that goods may have left unpaid (once per abandoned session)."""
    what = f"{len(e.lines)} identified line(s) worth {e.value_cents / 100:.2f}"
    if e.unidentified:
        what += f" and {e.unidentified} unidentified item(s)"
    raise_alert(
        session,
        kind="checkout_abandoned",
        message=f"checkout {e.station_id} abandoned unpaid ({e.reason}) by member {e.member_id}: {what}",
        store_id=e.store_id,
        details={"sale_id": str(e.sale_id), "event_id": str(e.event_id), "value_cents": e.value_cents},
        dedupe_key=f"checkout_abandoned:{e.sale_id}",
    )


class BatchProcessor:
    """Writes batches of classified messages to the database."""

    def __init__(self, engine: Engine, *, low_stock_default: int = DEFAULT_LOW_STOCK) -> None:
        """Bind to ``engine`` (SQLite or PostgreSQL)."""
        self.engine = engine
        self.dialect = engine.dialect.name
        self.low_stock_default = low_stock_default
        self._restocked_cache: tuple[float, set[tuple[str, str]]] | None = None
        self._known_stores: set[str] = set()

    # ------------------------------------------------------------------ entry points

    def process(self, messages: Sequence[Incoming], *, stop: Any = None) -> BatchResult:
        """Write a batch durably; retries transient errors, isolates poison messages.

        Returns only once everything is committed (the caller then acknowledges). Raises only
        if ``stop`` (a threading.Event) is set while the database stays unreachable.
        """
        cls = classify(messages)
        delay = 0.05
        attempts = 0
        while True:
            try:
                return self._write(cls)
            except DBAPIError as err:
                attempts += 1
                if _is_transient(err):
                    if stop is not None and stop.is_set() and attempts > 3:
                        raise
                    log.warning("transient database error (attempt %d), retrying: %s", attempts, err.orig)
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if attempts < 2:
                    continue  # a race (e.g. same key inserted by another worker): retry once
                log.error("batch failed, isolating messages: %s", err.orig)
                return self._isolate(messages, stop)

    def _isolate(self, messages: Sequence[Incoming], stop: Any) -> BatchResult:
        total = BatchResult()
        for msg in messages:
            one = classify([msg])
            try:
                res = self._write(one)
            except DBAPIError as err:
                if _is_transient(err):
                    res = self.process([msg], stop=stop)
                else:
                    dead = _Classified(dead=[(msg, f"database refused message: {str(err.orig)[:400]}", None)])
                    res = self._write(dead)
            total.events += res.events
            total.new_events += res.new_events
            total.duplicates += res.duplicates
            total.dead_letters += res.dead_letters
            total.states += res.states
            total.payments += res.payments
            total.replies.extend(res.replies)
            total.event_ids.extend(res.event_ids)
        return total

    # ---------------------------------------------------------------------- writing

    def _write(self, cls: _Classified) -> BatchResult:
        result = BatchResult()
        now = utcnow()
        with Session(self.engine) as session, session.begin():
            stores = {e.store_id for _, e in cls.events} | {s for s, _, _ in cls.availability}
            stores |= {s for s, _, _, _ in cls.states} | {r.store_id for r, _ in cls.payments}
            # Stores are never deleted: once seen committed, a store needs no insert. Skipping it
            # keeps concurrent writers from queueing on the same store rows in every batch.
            stores -= self._known_stores
            if stores:
                insert_ignore_rows(
                    session,
                    _t(Store),
                    [
                        {
                            "id": s,
                            "name": s,
                            "created_at": now,
                            "registered": False,
                            "online": False,
                            "lockdown": False,
                            "address": "",
                        }
                        for s in sorted(stores)
                    ],
                )
            new_events = self._insert_events(session, cls.events, now, result)
            offline_sales = self._apply_effects(session, new_events, now)
            for req, _msg in cls.payments:
                reply = authorize(session, req, now)
                result.replies.append((Topics(req.store_id).pay_reply, dump(reply)))
                result.payments += 1
            if cls.dead:
                insert_ignore_rows(
                    session,
                    _t(DeadLetter),
                    [
                        {
                            "received_at": now,
                            "topic": msg.topic[:1000],
                            "store_id": store,
                            "payload": msg.payload[:MAX_DEAD_PAYLOAD],
                            "reason": reason,
                        }
                        for msg, reason, store in cls.dead
                    ],
                )
                result.dead_letters = len(cls.dead)
            # Wallets are shared with other transactions: charged last, in sorted order, so their
            # row locks are held only for the commit and concurrent writers never deadlock.
            self._wallet_last(session, offline_sales)
        self._known_stores |= stores
        # "Newest wins" state (alarms, applied sync versions, store mode, availability, retained
        # state) is idempotent for any copy of an event, so it gets its own short transaction
        # after the main commit and before the acknowledgement: hot rows (one alarm per store) are
        # locked for milliseconds, and a crash in between only means it is applied again on
        # redelivery.
        unique = list({id(ev): ev for _, ev in cls.events}.values())
        if unique or cls.availability or cls.states:
            with Session(self.engine) as session, session.begin():
                self._apply_shared(session, unique)
                self._availability(session, cls.availability, now)
                self._states(session, cls.states, now)
        result.states = len(cls.availability) + len(cls.states)
        return result

    def _insert_events(
        self, session: Session, events: list[tuple[Incoming, Any]], now: datetime, result: BatchResult
    ) -> list[Any]:
        result.events = len(events)
        unique: dict[uuid.UUID, Any] = {}
        payloads: dict[uuid.UUID, str] = {}
        for msg, ev in events:
            if ev.event_id not in unique:
                unique[ev.event_id] = ev
                payloads[ev.event_id] = msg.payload.decode()
        if not unique:
            return []
        rows = [
            {
                "event_id": ev.event_id,
                "store_id": ev.store_id,
                "type": ev.type,
                "ts": ev.ts,
                "seq": ev.seq,
                "payload": payloads[ev.event_id],
                "ingested_at": now,
            }
            for ev in sorted(unique.values(), key=lambda e: e.event_id)  # one lock order for all workers
        ]
        inserted = set(insert_ignore_rows(session, _t(Event), rows, returning="event_id"))
        result.new_events = len(inserted)
        result.duplicates = len(events) - len(inserted)
        result.event_ids = list(unique)
        return sorted((ev for eid, ev in unique.items() if eid in inserted), key=lambda e: (_aware(e.ts), e.seq))

    # ---------------------------------------------------------------------- effects

    def _apply_effects(self, session: Session, events: list[Any], now: datetime) -> list[SaleCompleted]:
        """Write the effects of new events; return the offline sales still to charge."""
        entries = [e for e in events if isinstance(e, AccessGranted | AccessDenied)]
        if entries:
            insert_ignore_rows(
                session,
                _t(Entry),
                [
                    {
                        "event_id": e.event_id,
                        "store_id": e.store_id,
                        "door_id": e.door_id,
                        "ts": e.ts,
                        "member_id": e.member_id,
                        "granted": isinstance(e, AccessGranted),
                        "reason": e.reason.value if isinstance(e, AccessDenied) else None,
                        "via": e.via if isinstance(e, AccessGranted) else None,
                    }
                    for e in entries
                ],
            )
        for e in events:
            if isinstance(e, CheckoutAbandoned):
                _abandoned_alert(session, e)
        return self._sales(session, [e for e in events if isinstance(e, SaleCompleted)], now)

    def _apply_shared(self, session: Session, events: list[Any]) -> None:
        """Upsert alarm state, applied sync versions and store mode (order-independent, newest wins)."""
        alarms = [e for e in events if isinstance(e, AlarmRaised | AlarmCleared)]
        if alarms:
            self._alarms(session, alarms)
        modes = sorted((e for e in events if isinstance(e, ModeChanged)), key=lambda m: (m.store_id, _aware(m.ts)))
        for mode in modes:
            session.execute(
                update(Store)
                .where(Store.id == mode.store_id, Store.mode_at.is_(None) | (Store.mode_at <= mode.ts))
                .values(mode=mode.mode.value, lockdown=mode.lockdown, mode_at=mode.ts)
                .execution_options(synchronize_session=False)
            )
        syncs = [e for e in events if isinstance(e, SyncApplied)]
        if syncs:
            latest: dict[tuple[str, str], SyncApplied] = {}
            for e in syncs:
                key = (e.store_id, e.channel)
                if key not in latest or latest[key].version < e.version:
                    latest[key] = e
            session.execute(
                upsert(_t(StoreSync), self.dialect, ["store_id", "channel"], ["version", "applied_at"], "version"),
                [
                    {"store_id": s, "channel": c, "version": e.version, "applied_at": e.ts}
                    for (s, c), e in sorted(latest.items())
                ],
            )

    def _alarms(self, session: Session, events: list[AlarmRaised | AlarmCleared]) -> None:
        """Upsert each alarm's state; an event older than the recorded one changes nothing."""
        latest: dict[tuple[str, str, str], AlarmRaised | AlarmCleared] = {}
        for e in events:
            key = (e.store_id, e.alarm.value, e.source)
            if key not in latest or (_aware(latest[key].ts), latest[key].seq) < (_aware(e.ts), e.seq):
                latest[key] = e
        table = _t(Alarm)
        rows: list[dict[str, Any]] = []
        for key in sorted(latest):  # one statement in one key order: concurrent writers never deadlock
            e = latest[key]
            raised = e if isinstance(e, AlarmRaised) else None
            rows.append(
                {
                    "store_id": e.store_id,
                    "alarm": e.alarm.value,
                    "source": e.source,
                    "event_ts": _aware(e.ts),
                    "event_seq": e.seq,
                    "active": raised is not None,
                    "severity": raised.severity if raised else "info",
                    "detail": raised.detail if raised else "",
                    "raised_at": _aware(e.ts) if raised else None,
                    "cleared_at": None if raised else _aware(e.ts),
                }
            )
        ins: Any = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)
        new = ins.excluded
        newer = (table.c.event_ts < new.event_ts) | (
            (table.c.event_ts == new.event_ts) & (table.c.event_seq < new.event_seq)
        )
        # A clearing keeps what the raise said (severity, detail, when it was raised).
        kept_on_clear = {c: case((new.active, new[c]), else_=table.c[c]) for c in ("severity", "detail", "raised_at")}
        set_ = {c: new[c] for c in ("active", "cleared_at", "event_ts", "event_seq")} | kept_on_clear
        stmt = ins.on_conflict_do_update(index_elements=["store_id", "alarm", "source"], set_=set_, where=newer)
        session.execute(stmt, rows)  # executemany: one pipelined round trip on psycopg

    # ------------------------------------------------------------------------ sales

    def _sales(self, session: Session, sales: list[SaleCompleted], now: datetime) -> list[SaleCompleted]:
        if not sales:
            return []
        by_sale: dict[uuid.UUID, SaleCompleted] = {}
        for s in sales:
            by_sale.setdefault(s.sale_id, s)
        rows = [
            {
                "sale_id": s.sale_id,
                "event_id": s.event_id,
                "store_id": s.store_id,
                "station_id": s.station_id,
                "member_id": s.member_id,
                "ts": s.ts,
                "subtotal_cents": s.subtotal_cents,
                "discount_cents": s.discount_cents,
                "total_cents": s.total_cents,
                "payment_mode": s.payment_mode,
                "authorization_id": s.authorization_id,
                "coupon_ids": list(s.coupon_ids),
                "lines": [line.model_dump(mode="json") for line in s.lines],
            }
            for s in sorted(by_sale.values(), key=lambda s: s.sale_id)
        ]
        fresh_ids = set(insert_ignore_rows(session, _t(Sale), rows, conflict=["sale_id"], returning="sale_id"))
        fresh = [s for s in by_sale.values() if s.sale_id in fresh_ids]
        if fresh:
            self._stock(session, fresh, now)
            self._coupons(session, fresh)
            self._online_payments(session, [s for s in fresh if s.payment_mode == "online"])
        return [s for s in fresh if s.payment_mode == "offline"]

    def _stock(self, session: Session, sales: list[SaleCompleted], now: datetime) -> None:
        product_ids = sorted({line.product_id for s in sales for line in s.lines})
        products = {
            p.id: p
            for p in session.execute(
                select(Product.id, Product.sold_by_weight, Product.low_stock_threshold).where(
                    Product.id.in_(product_ids)
                )
            )
        }
        moves = []
        for s in sales:
            for i, line in enumerate(s.lines):
                info = products.get(line.product_id)
                by_weight = bool(info and info.sold_by_weight and line.weight_g is not None)
                qty = round(line.weight_g or 0) if by_weight else line.quantity
                moves.append(
                    {
                        "store_id": s.store_id,
                        "product_id": line.product_id,
                        "quantity": -qty,
                        "reason": "sale",
                        "reference": f"{s.sale_id}:{i}",
                        "created_at": s.ts,
                    }
                )
        insert_ignore_rows(session, _t(StockMovement), moves)
        # Low stock: only for products a store stocks (restocked at least once).
        pairs = sorted({(m["store_id"], m["product_id"]) for m in moves} & self._restocked(session))
        if not pairs:
            return
        rows = session.execute(
            select(StockMovement.store_id, StockMovement.product_id, func.sum(StockMovement.quantity))
            .where(tuple_(StockMovement.store_id, StockMovement.product_id).in_(pairs))
            .group_by(StockMovement.store_id, StockMovement.product_id)
            .having(func.max(case((StockMovement.reason == "restock", 1), else_=0)) == 1)
        ).all()
        for store_id, pid, on_hand in rows:
            info = products.get(pid)
            threshold = (
                info.low_stock_threshold if info and info.low_stock_threshold is not None else self.low_stock_default
            )
            if int(on_hand) <= threshold:
                raise_alert(
                    session,
                    kind="low_stock",
                    store_id=store_id,
                    message=f"{pid} is low in {store_id}: {int(on_hand)} left (threshold {threshold})",
                    details={"product_id": pid, "on_hand": int(on_hand), "threshold": threshold},
                    dedupe_key=f"low_stock:{store_id}:{pid}",
                )

    def _restocked(self, session: Session) -> set[tuple[str, str]]:
        """Return the (store, product) pairs ever restocked, cached for a few seconds."""
        now = time.monotonic()
        if self._restocked_cache is None or now - self._restocked_cache[0] > RESTOCK_CACHE_S:
            rows = session.execute(
                select(StockMovement.store_id, StockMovement.product_id)
                .where(StockMovement.reason == "restock")
                .distinct()
            ).all()
            self._restocked_cache = (now, {(r[0], r[1]) for r in rows})
        return self._restocked_cache[1]

    def _coupons(self, session: Session, sales: list[SaleCompleted]) -> None:
        redeemed: list[str] = []
        for s in sorted(sales, key=lambda s: (_aware(s.ts), str(s.sale_id))):
            for cid in s.coupon_ids:
                res = session.execute(
                    update(CouponRow)
                    .where(CouponRow.id == cid, CouponRow.redeemed_sale_id.is_(None), CouponRow.revoked_at.is_(None))
                    .values(redeemed_sale_id=s.sale_id, redeemed_store_id=s.store_id, redeemed_at=s.ts)
                    .returning(CouponRow.member_id)
                    .execution_options(synchronize_session=False)
                ).first()
                if res is not None:
                    redeemed.append(cid)
                    if res.member_id != s.member_id:
                        raise_alert(
                            session,
                            kind="coupon_wrong_member",
                            store_id=s.store_id,
                            message=f"coupon {cid} of member {res.member_id} used by {s.member_id} in sale {s.sale_id}",
                            details={
                                "coupon_id": cid,
                                "sale_id": str(s.sale_id),
                                "owner": res.member_id,
                                "member_id": s.member_id,
                            },
                            dedupe_key=f"coupon_wrong_member:{cid}:{s.sale_id}",
                        )
                    continue
                coupon = session.get(CouponRow, cid)
                details: dict[str, Any] = {
                    "coupon_id": cid,
                    "sale_id": str(s.sale_id),
                    "store_id": s.store_id,
                    "member_id": s.member_id,
                }
                if coupon is None:
                    raise_alert(
                        session,
                        kind="coupon_unknown",
                        store_id=s.store_id,
                        message=f"sale {s.sale_id} in {s.store_id} used unknown coupon {cid}",
                        details=details,
                        dedupe_key=f"coupon_unknown:{cid}:{s.sale_id}",
                    )
                elif coupon.redeemed_sale_id == s.sale_id:
                    continue  # redeemed by this sale's online payment already
                elif coupon.redeemed_sale_id is not None:
                    details |= {
                        "first_sale_id": str(coupon.redeemed_sale_id),
                        "first_store_id": coupon.redeemed_store_id,
                    }
                    raise_alert(
                        session,
                        kind="coupon_double_redemption",
                        store_id=s.store_id,
                        severity="critical",
                        message=(
                            f"coupon {cid} redeemed twice: sale {coupon.redeemed_sale_id} in "
                            f"{coupon.redeemed_store_id} "
                            f"and sale {s.sale_id} in {s.store_id}"
                        ),
                        details=details,
                        dedupe_key=f"coupon_double:{cid}:{s.sale_id}",
                    )
                else:
                    raise_alert(
                        session,
                        kind="coupon_revoked",
                        store_id=s.store_id,
                        message=f"sale {s.sale_id} in {s.store_id} used revoked coupon {cid}",
                        details=details,
                        dedupe_key=f"coupon_revoked:{cid}:{s.sale_id}",
                    )
        if redeemed:
            record_change(session, "coupons", remove_ids=sorted(set(redeemed)))

    def _online_payments(self, session: Session, sales: list[SaleCompleted]) -> None:
        if not sales:
            return
        auth_ids = [s.authorization_id for s in sales if s.authorization_id]
        payments = (
            {
                p.authorization_id: p
                for p in session.scalars(select(Payment).where(Payment.authorization_id.in_(auth_ids)))
            }
            if auth_ids
            else {}
        )
        for s in sales:
            p = payments.get(s.authorization_id) if s.authorization_id else None
            problem = None
            if p is None:
                problem = f"no approved authorisation {s.authorization_id!r}"
            elif p.status != "approved":
                problem = f"authorisation {p.authorization_id} is {p.status}"
            elif p.amount_cents != s.total_cents:
                problem = f"authorised {p.amount_cents} cents but sale total is {s.total_cents}"
            elif p.member_id != s.member_id:
                problem = f"authorised for member {p.member_id} but sale member is {s.member_id}"
            if problem:
                raise_alert(
                    session,
                    kind="payment_mismatch",
                    store_id=s.store_id,
                    severity="critical",
                    message=f"online sale {s.sale_id} in {s.store_id}: {problem}",
                    details={
                        "sale_id": str(s.sale_id),
                        "authorization_id": s.authorization_id,
                        "total_cents": s.total_cents,
                    },
                    dedupe_key=f"payment_mismatch:{s.sale_id}",
                )

    def _wallet_last(self, session: Session, pending: list[SaleCompleted]) -> None:
        """Charge offline sales to wallets last, so member row locks are held only briefly."""
        if not pending:
            return
        per_member: dict[str, list[SaleCompleted]] = defaultdict(list)
        for s in pending:
            per_member[s.member_id].append(s)
        ids = sorted(per_member)
        totals = [sum(s.total_cents for s in per_member[m]) for m in ids]
        conn = session.connection()
        if self.dialect == "postgresql":
            # Lock the member rows in one order for every worker (no deadlocks), then charge.
            conn.exec_driver_sql("SELECT id FROM members WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (ids,))
            conn.exec_driver_sql(
                "UPDATE members AS m SET balance_cents = m.balance_cents - v.total "
                "FROM unnest(%s::text[], %s::int8[]) AS v(id, total) WHERE m.id = v.id",
                (ids, totals),
            )
        else:
            conn.exec_driver_sql(
                "UPDATE members SET balance_cents = balance_cents - ? WHERE id = ?",
                [(t, m) for m, t in zip(ids, totals, strict=True)],
            )
        balances = {
            r.id: (r.balance_cents, r.revoked_at)
            for r in session.execute(
                select(Member.id, Member.balance_cents, Member.revoked_at).where(Member.id.in_(ids))
            )
        }
        entries = []
        for member_id, total in zip(ids, totals, strict=True):
            sales = sorted(per_member[member_id], key=lambda s: (_aware(s.ts), str(s.sale_id)))
            new_balance = balances.get(member_id)
            if new_balance is None:
                for s in sales:
                    raise_alert(
                        session,
                        kind="unknown_member_sale",
                        store_id=s.store_id,
                        severity="critical",
                        message=f"offline sale {s.sale_id} in {s.store_id} charged unknown member {member_id}",
                        details={"sale_id": str(s.sale_id), "member_id": member_id, "total_cents": s.total_cents},
                        dedupe_key=f"unknown_member_sale:{s.sale_id}",
                    )
                continue
            running = int(new_balance[0]) + total
            for s in sales:
                running -= s.total_cents
                entries.append(
                    {
                        "member_id": member_id,
                        "amount_cents": -s.total_cents,
                        "kind": "offline_charge",
                        "reference": str(s.sale_id),
                        "balance_after": running,
                        "store_id": s.store_id,
                        "created_at": s.ts,
                    }
                )
                if running < 0 and s.total_cents > 0:
                    raise_alert(
                        session,
                        kind="wallet_overdraft",
                        store_id=s.store_id,
                        severity="critical",
                        message=(
                            f"offline sale {s.sale_id} in {s.store_id} overdrew member {member_id}: "
                            f"balance {running} cents after {s.total_cents}"
                        ),
                        details={
                            "sale_id": str(s.sale_id),
                            "member_id": member_id,
                            "balance_cents": running,
                            "total_cents": s.total_cents,
                        },
                        dedupe_key=f"overdraft:{s.sale_id}",
                    )
                if new_balance[1] is not None and _aware(new_balance[1]) <= _aware(s.ts):
                    raise_alert(
                        session,
                        kind="revoked_member_sale",
                        store_id=s.store_id,
                        severity="critical",
                        message=f"offline sale {s.sale_id} in {s.store_id} by revoked member {member_id}",
                        details={"sale_id": str(s.sale_id), "member_id": member_id},
                        dedupe_key=f"revoked_member_sale:{s.sale_id}",
                    )
        insert_ignore_rows(session, _t(WalletEntry), entries)

    # ------------------------------------------------------------------ availability

    def _availability(self, session: Session, items: list[tuple[str, bool, Incoming]], now: datetime) -> None:
        if not items:
            return
        last: dict[str, bool] = {}
        for store, online, _msg in items:
            last[store] = online  # in arrival order: the newest wins
        for store in sorted(last):
            session.execute(
                update(Store)
                .where(Store.id == store)
                .values(online=last[store], availability_at=now, last_seen_at=now)
                .execution_options(synchronize_session=False)
            )

    def _states(self, session: Session, items: list[tuple[str, str, Any, Incoming]], now: datetime) -> None:
        for store, name, value, _msg in items:
            if value is None:
                session.execute(
                    StoreState.__table__.delete().where(StoreState.store_id == store, StoreState.name == name)  # type: ignore[attr-defined]
                )
                continue
            data = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
            session.execute(
                upsert(_t(StoreState), self.dialect, ["store_id", "name"], ["payload", "updated_at"]),
                {"store_id": store, "name": name, "payload": data, "updated_at": now},
            )
            if isinstance(value, DoorState):
                session.execute(
                    update(Store)
                    .where(Store.id == store, (Store.door_state_at.is_(None)) | (Store.door_state_at <= value.ts))
                    .values(
                        mode=value.mode.value,
                        mode_at=value.ts,
                        lockdown=value.lockdown,
                        door=value.door,
                        lock=value.lock,
                        occupancy=value.occupancy,
                        occupancy_cap=value.occupancy_cap,
                        door_alarms=list(value.alarms),
                        door_state_at=value.ts,
                        last_seen_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
            elif isinstance(value, DeviceStatus):
                session.execute(
                    upsert(
                        _t(StoreDevice), self.dialect, ["store_id", "device"], ["kind", "status", "detail", "ts"], "ts"
                    ),
                    {
                        "store_id": store,
                        "device": value.device,
                        "kind": value.kind,
                        "status": value.status,
                        "detail": value.detail,
                        "ts": value.ts,
                    },
                )
