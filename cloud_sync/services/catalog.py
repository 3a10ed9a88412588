"""Catalog: products, barcodes, images, price changes, promotions and coupons."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cloud_sync.db.base import utcnow
from cloud_sync.db.models import (
    CouponRow,
    Member,
    PriceChange,
    Product,
    ProductBarcode,
    ProductImage,
    PromotionRow,
)
from cloud_sync.services.errors import Conflict, Invalid, NotFound
from cloud_sync.services.sync import (
    catalog_products,
    coupon_model,
    effective_price,
    promotion_model,
    record_change,
)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
MAX_IMAGE_BYTES = 2 * 1024 * 1024


def get_product(session: Session, product_id: str) -> Product:
    """Return the product or raise NotFound."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id!r} not found")
    return product


def _set_barcodes(session: Session, product_id: str, barcodes: list[str]) -> None:
    taken = session.scalars(
        select(ProductBarcode).where(ProductBarcode.barcode.in_(barcodes), ProductBarcode.product_id != product_id)
    ).first()
    if taken is not None:
        raise Conflict(f"barcode {taken.barcode!r} already belongs to product {taken.product_id!r}")
    session.execute(delete(ProductBarcode).where(ProductBarcode.product_id == product_id))
    session.add_all(ProductBarcode(barcode=b, product_id=product_id) for b in barcodes)
    session.flush()


def _catalog_changed(session: Session, product_ids: list[str]) -> None:
    upserts = catalog_products(session, product_ids)
    record_change(session, "catalog", upsert_products=upserts)


def _check_item_code(session: Session, product_id: str, item_code: str | None) -> None:
    if item_code is None:
        return
    taken = session.scalars(select(Product).where(Product.item_code == item_code, Product.id != product_id)).first()
    if taken is not None:
        raise Conflict(f"item code {item_code!r} already belongs to product {taken.id!r}")


def create_product(session: Session, data: dict[str, Any]) -> Product:
    """Create a product with its barcodes and publish it to the stores."""
    barcodes = data.pop("barcodes", [])
    if session.get(Product, data["id"]) is not None:
        raise Conflict(f"product {data['id']!r} exists")
    _check_item_code(session, data["id"], data.get("item_code"))
    now = utcnow()
    product = Product(**data, active=True, created_at=now, updated_at=now)
    session.add(product)
    session.flush()
    _set_barcodes(session, product.id, barcodes)
    _catalog_changed(session, [product.id])
    return product


def update_product(session: Session, product_id: str, changes: dict[str, Any]) -> Product:
    """Change product fields and publish the new version."""
    product = get_product(session, product_id)
    barcodes = changes.pop("barcodes", None)
    _check_item_code(session, product_id, changes.get("item_code"))
    for key, value in changes.items():
        setattr(product, key, value)
    product.updated_at = utcnow()
    session.flush()
    if barcodes is not None:
        if len(set(barcodes)) != len(barcodes):
            raise Invalid("barcodes must be unique")
        _set_barcodes(session, product_id, barcodes)
    _catalog_changed(session, [product_id])
    return product


def product_views(session: Session, products: list[Product], now: datetime | None = None) -> list[dict[str, Any]]:
    """Return API views of products with their current price, barcodes and image ids."""
    now = now or utcnow()
    ids = [p.id for p in products]
    barcodes: dict[str, list[str]] = defaultdict(list)
    images: dict[str, list[int]] = defaultdict(list)
    changes: dict[str, list[PriceChange]] = defaultdict(list)
    if ids:
        for bc in session.scalars(
            select(ProductBarcode).where(ProductBarcode.product_id.in_(ids)).order_by(ProductBarcode.barcode)
        ):
            barcodes[bc.product_id].append(bc.barcode)
        for pid, iid in session.execute(
            select(ProductImage.product_id, ProductImage.id)
            .where(ProductImage.product_id.in_(ids))
            .order_by(ProductImage.id)
        ):
            images[pid].append(iid)
        for ch in session.scalars(select(PriceChange).where(PriceChange.product_id.in_(ids))):
            changes[ch.product_id].append(ch)
    out = []
    for p in products:
        price, per_kg = effective_price(p, changes[p.id], now)
        out.append(
            {
                "id": p.id,
                "name": p.name,
                "barcodes": barcodes[p.id],
                "unit_weight_g": p.unit_weight_g,
                "weight_tolerance_g": p.weight_tolerance_g,
                "sold_by_weight": p.sold_by_weight,
                "price_cents": price,
                "price_per_kg_cents": per_kg,
                "low_stock_threshold": p.low_stock_threshold,
                "active": p.active,
                "item_code": p.item_code,
                "image_ids": images[p.id],
            }
        )
    return out


def add_price(
    session: Session,
    product_id: str,
    *,
    price_cents: int | None,
    price_per_kg_cents: int | None,
    effective_from: datetime | None,
) -> PriceChange:
    """Schedule a price (now by default); stores apply it at ``effective_from`` even offline."""
    product = get_product(session, product_id)
    if product.sold_by_weight and price_per_kg_cents is None:
        raise Invalid("this product is sold by weight: give price_per_kg_cents")
    if not product.sold_by_weight and price_cents is None:
        raise Invalid("this product is sold per unit: give price_cents")
    change = PriceChange(
        product_id=product_id,
        price_cents=price_cents,
        price_per_kg_cents=price_per_kg_cents,
        effective_from=effective_from or utcnow(),
        created_at=utcnow(),
    )
    session.add(change)
    session.flush()
    _catalog_changed(session, [product_id])
    return change


def add_image(session: Session, product_id: str, content_type: str, data: bytes) -> ProductImage:
    """Store an enrolment image of a product."""
    get_product(session, product_id)
    if content_type not in IMAGE_TYPES:
        raise Invalid(f"content type must be one of {', '.join(IMAGE_TYPES)}")
    if not data or len(data) > MAX_IMAGE_BYTES:
        raise Invalid(f"image must be 1 byte to {MAX_IMAGE_BYTES} bytes")
    image = ProductImage(product_id=product_id, content_type=content_type, data=data, created_at=utcnow())
    session.add(image)
    session.flush()
    return image


def create_promotion(session: Session, data: dict[str, Any]) -> PromotionRow:
    """Create a promotion on existing products and publish it."""
    if session.get(PromotionRow, data["id"]) is not None:
        raise Conflict(f"promotion {data['id']!r} exists")
    ids = sorted(set(data["product_ids"]))
    found = set(session.scalars(select(Product.id).where(Product.id.in_(ids))))
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(f"unknown products: {', '.join(missing[:10])}")
    row = PromotionRow(**(data | {"product_ids": ids}), active=True, created_at=utcnow())
    session.add(row)
    session.flush()
    record_change(session, "catalog", upsert_promotions=[promotion_model(row)])
    return row


def end_promotion(session: Session, promotion_id: str) -> PromotionRow:
    """Stop a promotion now and remove it from the stores."""
    row = session.get(PromotionRow, promotion_id)
    if row is None:
        raise NotFound(f"promotion {promotion_id!r} not found")
    if row.active:
        row.active = False
        session.flush()
        record_change(session, "catalog", remove_promotion_ids=[promotion_id])
    return row


# ---------------------------------------------------------------------------- coupons


def create_coupon(session: Session, data: dict[str, Any]) -> CouponRow:
    """Issue a coupon to a member and publish it."""
    coupon_id = data.pop("id", None) or "c-" + uuid.uuid4().hex[:12]
    if session.get(Member, data["member_id"]) is None:
        raise NotFound(f"member {data['member_id']!r} not found")
    if session.get(CouponRow, coupon_id) is not None:
        raise Conflict(f"coupon {coupon_id!r} exists")
    data["valid_from"] = data.get("valid_from") or utcnow()
    if data.get("valid_until") is not None and data["valid_until"] <= data["valid_from"]:
        raise Invalid("valid_until must be after valid_from")
    row = CouponRow(id=coupon_id, **data, created_at=utcnow())
    session.add(row)
    session.flush()
    record_change(session, "coupons", upsert=[coupon_model(row)])
    return row


def revoke_coupon(session: Session, coupon_id: str) -> CouponRow:
    """Withdraw an unredeemed coupon."""
    row = session.get(CouponRow, coupon_id)
    if row is None:
        raise NotFound(f"coupon {coupon_id!r} not found")
    if row.redeemed_at is not None:
        raise Conflict(f"coupon {coupon_id!r} was already redeemed")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        record_change(session, "coupons", remove_ids=[coupon_id])
    return row
