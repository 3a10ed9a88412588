"""Charge once per sale: find the wallet charge a sale already has, and alert a mismatch.

A sale's money moves exactly once per (``store_id``, ``sale_id``), whatever path the sale took:
an approved online authorisation (``charge``), an offline sale reported in ``sale_completed``
(``offline_charge``), retries, redeliveries or several ingest workers. The database enforces it
(unique ``uq_wallet_entries_sale``); the services look first so that the usual case, a lost
payment reply followed by an offline fallback, is reconciled instead of refused:

- the charge found is for the same member and amount: nothing more is charged;
- it is not (another amount, another member): nothing more is charged either, and a critical
  ``charge_mismatch`` alert tells an operator what each side says.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_sync.db.models import Payment, WalletEntry
from cloud_sync.services.alerts import raise_alert

SaleKey = tuple[str, uuid.UUID]
"""(store id, sale id): what at most one wallet charge may name."""


@dataclass(frozen=True)
class SaleCharge:
    """The wallet charge a sale already has (``amount_cents`` positive: what was taken)."""

    store_id: str
    sale_id: uuid.UUID
    member_id: str
    amount_cents: int
    kind: str
    reference: str

    def matches(self, member_id: str, amount_cents: int) -> bool:
        """Return whether this charge is for ``member_id`` and ``amount_cents`` exactly."""
        return self.member_id == member_id and self.amount_cents == amount_cents


def find_sale_charges(session: Session, keys: Iterable[SaleKey]) -> dict[SaleKey, SaleCharge]:
    """Return the existing wallet charges of the given (store, sale) pairs."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = session.execute(
        select(
            WalletEntry.store_id,
            WalletEntry.sale_id,
            WalletEntry.member_id,
            WalletEntry.amount_cents,
            WalletEntry.kind,
            WalletEntry.reference,
        ).where(  # both columns: the unique (store_id, sale_id) index answers it
            WalletEntry.store_id.in_(sorted({store for store, _ in wanted})),
            WalletEntry.sale_id.in_(sorted({sale for _, sale in wanted})),
        )
    ).all()
    out: dict[SaleKey, SaleCharge] = {}
    for r in rows:
        key = (r.store_id, r.sale_id)
        if key in wanted:
            out[key] = SaleCharge(r.store_id, r.sale_id, r.member_id, -int(r.amount_cents), r.kind, r.reference)
    return out


def authorization_of(session: Session, charge: SaleCharge) -> str | None:
    """Return the authorisation id of an online ``charge`` (``None`` for an offline one)."""
    if charge.kind != "charge":
        return None
    try:
        request_id = uuid.UUID(charge.reference)
    except ValueError:
        return None
    return session.scalar(select(Payment.authorization_id).where(Payment.request_id == request_id))


def alert_charge_mismatch(
    session: Session, charge: SaleCharge, *, member_id: str, amount_cents: int, source: str, ref: str
) -> None:
    """Raise ``charge_mismatch``: ``source`` (``ref``) asks to charge a sale already charged otherwise."""
    raise_alert(
        session,
        kind="charge_mismatch",
        store_id=charge.store_id,
        severity="critical",
        message=(
            f"sale {charge.sale_id} in {charge.store_id} was already charged {charge.amount_cents} cents "
            f"to member {charge.member_id} ({charge.kind}); {source} {ref} asks {amount_cents} cents "
            f"from member {member_id}: not charged again, check the sale"
        ),
        details={
            "sale_id": str(charge.sale_id),
            "charged_member_id": charge.member_id,
            "charged_cents": charge.amount_cents,
            "charged_kind": charge.kind,
            "charged_reference": charge.reference,
            "member_id": member_id,
            "amount_cents": amount_cents,
            "source": source,
            "reference": ref,
        },
        dedupe_key=f"charge_mismatch:{charge.sale_id}:{ref}"[:200],
    )
