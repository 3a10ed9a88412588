"""Downlink channels: version counters, recorded deltas and snapshots (contracts.sync)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.dialect import insert_ignore
from cloud_sync.db.models import (
    CouponRow,
    IssuerKeyRow,
    Member,
    MemberPhoneKey,
    PriceChange,
    Product,
    ProductBarcode,
    PromotionRow,
    SyncChange,
    SyncChannel,
)
from cloud_sync.db.staff_models import StaffMember
from contracts.staff import StaffEntry, StaffSecret
from contracts.sync import (
    CHANNELS,
    DELTA_MODELS,
    CatalogProduct,
    CatalogSnapshot,
    Coupon,
    CouponList,
    Delta,
    IssuerKeys,
    Promotion,
    RevocationList,
    ScheduledPrice,
    Snapshot,
    StaffList,
    SyncManifest,
)


def record_change(session: Session, channel: str, **fields: Any) -> int:
    """Bump ``channel``'s version (row-locked) and store the delta; return the new version."""
    dialect = session.get_bind().dialect.name
    session.execute(insert_ignore(SyncChannel, dialect).values(channel=channel, version=0))
    row = session.execute(select(SyncChannel).where(SyncChannel.channel == channel).with_for_update()).scalar_one()
    row.version += 1
    version = row.version
    if channel == "keys":
        model: Delta = IssuerKeys(version=version, from_version=version - 1, keys=active_issuer_keys(session))
    else:
        model = DELTA_MODELS[channel](from_version=version - 1, version=version, **fields)
    session.add(SyncChange(channel=channel, version=version, payload=model.model_dump(mode="json")))
    session.flush()
    session.info["sync_changed"] = True  # the API wakes the downlink publisher after commit
    return version


def current_versions(session: Session) -> dict[str, int]:
    """Return the version of every channel (0 when nothing changed yet)."""
    found = dict(session.execute(select(SyncChannel.channel, SyncChannel.version)).all())
    return {ch: int(found.get(ch, 0)) for ch in CHANNELS}


def manifest(session: Session) -> SyncManifest:
    """Return the manifest of current versions."""
    return SyncManifest(versions=current_versions(session))


def changes_since(session: Session, channel: str, since: int, limit: int = 1000) -> list[dict[str, Any]]:
    """Return the recorded deltas of ``channel`` after version ``since``, oldest first."""
    rows = session.scalars(
        select(SyncChange.payload)
        .where(SyncChange.channel == channel, SyncChange.version > since)
        .order_by(SyncChange.version)
        .limit(limit)
    ).all()
    return list(rows)


# ----------------------------------------------------------------------------- catalog


def effective_price(product: Product, changes: Sequence[PriceChange], at: datetime) -> tuple[int | None, int | None]:
    """Return (price_cents, price_per_kg_cents) in force at ``at``."""
    price, per_kg = product.price_cents, product.price_per_kg_cents
    for change in sorted(changes, key=lambda c: (c.effective_from, c.id)):
        if change.effective_from <= at:
            price, per_kg = change.price_cents, change.price_per_kg_cents
    return price, per_kg


def catalog_products(
    session: Session, ids: Iterable[str] | None = None, now: datetime | None = None
) -> list[CatalogProduct]:
    """Return the downlink form of products (all, or those in ``ids``)."""
    now = now or utcnow()
    query = select(Product).order_by(Product.id)
    id_list = None if ids is None else sorted(set(ids))
    if id_list is not None:
        if not id_list:
            return []
        query = query.where(Product.id.in_(id_list))
    products = session.scalars(query).all()
    barcodes: dict[str, list[str]] = defaultdict(list)
    changes: dict[str, list[PriceChange]] = defaultdict(list)
    bq = select(ProductBarcode).order_by(ProductBarcode.barcode)
    cq = select(PriceChange)
    if id_list is not None:
        bq = bq.where(ProductBarcode.product_id.in_(id_list))
        cq = cq.where(PriceChange.product_id.in_(id_list))
    for bc in session.scalars(bq):
        barcodes[bc.product_id].append(bc.barcode)
    for ch in session.scalars(cq):
        changes[ch.product_id].append(ch)
    out = []
    for p in products:
        price, per_kg = effective_price(p, changes[p.id], now)
        scheduled = [
            ScheduledPrice(
                effective_from=c.effective_from, price_cents=c.price_cents, price_per_kg_cents=c.price_per_kg_cents
            )
            for c in sorted(changes[p.id], key=lambda c: (c.effective_from, c.id))
            if c.effective_from > now
        ]
        out.append(
            CatalogProduct(
                id=p.id,
                name=p.name,
                barcodes=barcodes[p.id],
                unit_weight_g=p.unit_weight_g,
                weight_tolerance_g=p.weight_tolerance_g,
                sold_by_weight=p.sold_by_weight,
                price_cents=price,
                price_per_kg_cents=per_kg,
                scheduled_prices=scheduled,
                active=p.active,
                item_code=p.item_code,
            )
        )
    return out


def promotion_model(row: PromotionRow) -> Promotion:
    """Return the downlink form of a promotion."""
    return Promotion(
        id=row.id,
        name=row.name,
        product_ids=row.product_ids,
        kind=row.kind,
        value=row.value,
        min_quantity=row.min_quantity,
        effective_from=row.effective_from,
        effective_until=row.effective_until,
    )


def coupon_model(row: CouponRow) -> Coupon:
    """Return the downlink form of a coupon."""
    return Coupon(
        id=row.id,
        member_id=row.member_id,
        kind=row.kind,
        value=row.value,
        min_total_cents=row.min_total_cents,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
    )


def active_issuer_keys(session: Session) -> dict[str, str]:
    """Return ``{kid hex: base64 public key}`` of the keys not retired."""
    rows = session.scalars(select(IssuerKeyRow).where(IssuerKeyRow.retired_at.is_(None)).order_by(IssuerKeyRow.kid))
    return {r.kid: r.public_b64 for r in rows}


def staff_entries(session: Session) -> list[StaffEntry]:
    """Return every staff member not revoked, of every store, in downlink form (hashes only)."""
    rows = session.scalars(select(StaffMember).where(StaffMember.revoked_at.is_(None)).order_by(StaffMember.id))
    return [staff_entry(r) for r in rows]


def staff_entry(row: StaffMember) -> StaffEntry:
    """Return the downlink form of one staff member."""
    return StaffEntry(
        id=row.id,
        store_id=row.store_id,
        role=row.role,
        hours=row.hours,
        secrets=[StaffSecret.model_validate(s) for s in row.secrets],
    )


def build_snapshot(session: Session, channel: str, now: datetime | None = None) -> Snapshot:
    """Return the full state of ``channel``, labelled with its version read first.

    The version is read before the data so a concurrent change can only make the snapshot newer
    than its label; deltas are idempotent, so re-applying that change later is harmless.
    """
    now = now or utcnow()
    version = current_versions(session)[channel]
    if channel == "catalog":
        promos = session.scalars(
            select(PromotionRow).where(PromotionRow.active.is_(True)).order_by(PromotionRow.id)
        ).all()
        return CatalogSnapshot(
            version=version,
            products=catalog_products(session, now=now),
            promotions=[promotion_model(p) for p in promos if p.effective_until is None or p.effective_until > now],
        )
    if channel == "revocations":
        members = session.scalars(select(Member.id).where(Member.revoked_at.is_not(None)).order_by(Member.id)).all()
        keys = session.scalars(
            select(MemberPhoneKey.phone_key).where(MemberPhoneKey.revoked_at.is_not(None)).distinct()
        ).all()
        return RevocationList(version=version, revoked_member_ids=list(members), revoked_phone_keys=sorted(keys))
    if channel == "coupons":
        rows = session.scalars(
            select(CouponRow)
            .where(CouponRow.revoked_at.is_(None), CouponRow.redeemed_at.is_(None))
            .order_by(CouponRow.id)
        ).all()
        coupons = [coupon_model(r) for r in rows if r.valid_until is None or r.valid_until > now]
        return CouponList(version=version, coupons=coupons)
    if channel == "keys":
        return IssuerKeys(version=version, keys=active_issuer_keys(session))
    if channel == "staff":
        return StaffList(version=version, staff=staff_entries(session))
    raise ValueError(f"unknown channel {channel!r}")
