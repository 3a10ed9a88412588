"""The member wallet: every ``WalletEntry`` is written here, from one row shape.

Three callers move money: the API (top-ups, refunds, orders) through :func:`wallet_move` and
:func:`charge`, online payment authorisation (:func:`add_entry`, in
``cloud_sync.services.payments``) and the ingest, which charges offline sales in bulk with
:func:`charge_offline_sales`. Each entry is unique per (member, kind, reference), and a sale is charged at most once per
(store, sale) whatever the path (``cloud_sync.services.sale_charges``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from cloud_sync.db.base import aware, table_of, utcnow
from cloud_sync.db.dialect import debit_balances, lock_members
from cloud_sync.db.models import Member, Sale, WalletEntry
from cloud_sync.services.alerts import raise_alert
from cloud_sync.services.errors import Conflict
from cloud_sync.services.members import get_member
from cloud_sync.services.sale_charges import SaleCharge, alert_charge_mismatch, authorization_of, find_sale_charges
from contracts.messages import SaleCompleted


def entry_row(
    *,
    member_id: str,
    amount_cents: int,
    kind: str,
    reference: str,
    balance_after: int,
    store_id: str | None,
    created_at: datetime,
    sale_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Return the column values of one wallet entry (``amount_cents`` negative for a charge)."""
    return {
        "sale_id": sale_id,
        "member_id": member_id,
        "amount_cents": amount_cents,
        "kind": kind,
        "reference": reference,
        "balance_after": balance_after,
        "store_id": store_id,
        "created_at": created_at,
    }


def add_entry(
    session: Session,
    *,
    member_id: str,
    amount_cents: int,
    kind: str,
    reference: str,
    balance_after: int,
    store_id: str | None,
    created_at: datetime,
    sale_id: uuid.UUID | None = None,
) -> WalletEntry:
    """Add one wallet entry to the session (written at the next flush) and return it."""
    entry = WalletEntry(
        **entry_row(
            member_id=member_id,
            amount_cents=amount_cents,
            kind=kind,
            reference=reference,
            balance_after=balance_after,
            store_id=store_id,
            created_at=created_at,
            sale_id=sale_id,
        )
    )
    session.add(entry)
    return entry


def wallet_move(
    session: Session, member_id: str, amount_cents: int, *, kind: str, reference: str, store_id: str | None = None
) -> tuple[WalletEntry, bool]:
    """Add ``amount_cents`` (negative to charge) once per (kind, reference); return (entry, new)."""
    existing = session.scalar(
        select(WalletEntry).where(
            WalletEntry.member_id == member_id, WalletEntry.kind == kind, WalletEntry.reference == reference
        )
    )
    if existing is not None:
        if existing.amount_cents != amount_cents:
            raise Conflict(f"reference {reference!r} was already used for {existing.amount_cents} cents")
        return existing, False
    member = get_member(session, member_id, lock=True)
    balance = session.execute(
        update(Member)
        .where(Member.id == member_id)
        .values(balance_cents=Member.balance_cents + amount_cents)
        .returning(Member.balance_cents)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    session.expire(member, ["balance_cents"])
    entry = add_entry(
        session,
        member_id=member_id,
        amount_cents=amount_cents,
        kind=kind,
        reference=reference,
        balance_after=int(balance),
        store_id=store_id,
        created_at=utcnow(),
    )
    session.flush()
    return entry, True


def charge(
    session: Session, member_id: str, amount_cents: int, *, kind: str, reference: str, store_id: str | None = None
) -> WalletEntry | None:
    """Charge the wallet if the balance covers it; return the entry or ``None`` if it does not."""
    member = get_member(session, member_id, lock=True)
    if member.balance_cents < amount_cents:
        return None
    entry, _ = wallet_move(session, member_id, -amount_cents, kind=kind, reference=reference, store_id=store_id)
    return entry


def charge_offline_sales(session: Session, sales: Sequence[SaleCompleted]) -> None:
    """Charge offline sales to their members' wallets, raising alerts for what looks wrong.

    Run it last in a transaction: member rows are locked in one order for every writer (no
    deadlocks) and only until the commit. A sale that already has a wallet charge (its online
    authorisation was approved but the reply was lost) is reconciled, not charged again
    (``cloud_sync.services.sale_charges``). An offline sale is charged even past zero (the goods
    are gone); an overdraft, an unknown member or a member revoked before the sale is alerted.
    The entries are inserted plainly: if another writer charged one of these sales meanwhile,
    the unique (store, sale) refuses the batch and the ingest retries it, then reconciled.
    """
    if not sales:
        return
    lock_members(session, sorted({s.member_id for s in sales}))
    charged = find_sale_charges(session, [(s.store_id, s.sale_id) for s in sales])
    to_charge: list[SaleCompleted] = []
    for s in sales:
        charge = charged.get((s.store_id, s.sale_id))
        if charge is None:
            to_charge.append(s)
        else:
            _reconcile(session, s, charge)
    per_member: dict[str, list[SaleCompleted]] = defaultdict(list)
    for s in to_charge:
        per_member[s.member_id].append(s)
    ids = sorted(per_member)
    if not ids:
        return
    totals = [sum(s.total_cents for s in per_member[m]) for m in ids]
    debit_balances(session, ids, totals)
    balances = {
        r.id: (r.balance_cents, r.revoked_at)
        for r in session.execute(select(Member.id, Member.balance_cents, Member.revoked_at).where(Member.id.in_(ids)))
    }
    entries: list[dict[str, Any]] = []
    for member_id, total in zip(ids, totals, strict=True):
        member_sales = sorted(per_member[member_id], key=lambda s: (aware(s.ts), str(s.sale_id)))
        found = balances.get(member_id)
        if found is None:
            for s in member_sales:
                _alert_unknown_member(session, s)
            continue
        balance, revoked_at = found
        running = int(balance) + total
        for s in member_sales:
            running -= s.total_cents
            entries.append(
                entry_row(
                    member_id=member_id,
                    amount_cents=-s.total_cents,
                    kind="offline_charge",
                    reference=str(s.sale_id),
                    balance_after=running,
                    store_id=s.store_id,
                    created_at=s.ts,
                    sale_id=s.sale_id,
                )
            )
            if running < 0 and s.total_cents > 0:
                _alert_overdraft(session, s, running)
            if revoked_at is not None and aware(revoked_at) <= aware(s.ts):
                _alert_revoked_member(session, s)
    if entries:
        session.execute(insert(table_of(WalletEntry)), entries)


def _reconcile(session: Session, s: SaleCompleted, charge: SaleCharge) -> None:
    """Settle an offline sale that already has a wallet charge: never twice; alert a mismatch."""
    if not charge.matches(s.member_id, s.total_cents):
        alert_charge_mismatch(
            session,
            charge,
            member_id=s.member_id,
            amount_cents=s.total_cents,
            source="offline sale",
            ref=str(s.event_id),
        )
        return
    auth = authorization_of(session, charge)
    if auth is not None:  # the sale row names the authorisation that paid it
        session.execute(
            update(Sale)
            .where(Sale.sale_id == s.sale_id, Sale.authorization_id.is_(None))
            .values(authorization_id=auth)
            .execution_options(synchronize_session=False)
        )


def _alert_unknown_member(session: Session, s: SaleCompleted) -> None:
    raise_alert(
        session,
        kind="unknown_member_sale",
        store_id=s.store_id,
        severity="critical",
        message=f"offline sale {s.sale_id} in {s.store_id} charged unknown member {s.member_id}",
        details={"sale_id": str(s.sale_id), "member_id": s.member_id, "total_cents": s.total_cents},
        dedupe_key=f"unknown_member_sale:{s.sale_id}",
    )


def _alert_overdraft(session: Session, s: SaleCompleted, balance: int) -> None:
    raise_alert(
        session,
        kind="wallet_overdraft",
        store_id=s.store_id,
        severity="critical",
        message=(
            f"offline sale {s.sale_id} in {s.store_id} overdrew member {s.member_id}: "
            f"balance {balance} cents after {s.total_cents}"
        ),
        details={
            "sale_id": str(s.sale_id),
            "member_id": s.member_id,
            "balance_cents": balance,
            "total_cents": s.total_cents,
        },
        dedupe_key=f"overdraft:{s.sale_id}",
    )


def _alert_revoked_member(session: Session, s: SaleCompleted) -> None:
    raise_alert(
        session,
        kind="revoked_member_sale",
        store_id=s.store_id,
        severity="critical",
        message=f"offline sale {s.sale_id} in {s.store_id} by revoked member {s.member_id}",
        details={"sale_id": str(s.sale_id), "member_id": s.member_id},
        dedupe_key=f"revoked_member_sale:{s.sale_id}",
    )
