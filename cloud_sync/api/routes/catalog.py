"""Catalog: products, barcodes, images, prices and promotions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlalchemy import select

from cloud_sync.api.deps import AnyRole, Operator, PagingDep, SessionDep, Staff
from cloud_sync.api.pagination import paginate
from cloud_sync.api.schemas import (
    ImageOut,
    Page,
    PriceIn,
    PriceOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    PromotionIn,
    PromotionOut,
)
from cloud_sync.db.models import (
    PriceChange,
    Product,
    ProductBarcode,
    ProductImage,
    PromotionRow,
)
from cloud_sync.services import catalog
from cloud_sync.services.errors import Invalid, NotFound

router = APIRouter(tags=["catalog"])
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


@router.post("/products", status_code=status.HTTP_201_CREATED, response_model=ProductOut)
def create_product(body: ProductIn, session: SessionDep, _p: Operator) -> ProductOut:
    """Create a product; it reaches the stores in the next catalog delta."""
    product = catalog.create_product(session, body.model_dump())
    return ProductOut(**catalog.product_views(session, [product])[0])


@router.get("/products", response_model=Page[ProductOut])
def list_products(
    session: SessionDep,
    _p: AnyRole,
    paging: PagingDep,
    q: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    barcode: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    active: bool | None = None,
) -> Page[ProductOut]:
    """List products (search ``q`` in id/name, exact ``barcode``, ``active``)."""
    query = select(Product).order_by(Product.id)
    if q:
        query = query.where(Product.id.contains(q, autoescape=True) | Product.name.contains(q, autoescape=True))
    if barcode:
        query = query.where(Product.id.in_(select(ProductBarcode.product_id).where(ProductBarcode.barcode == barcode)))
    if active is not None:
        query = query.where(Product.active.is_(active))
    rows, total = paginate(session, query, paging)
    items = [ProductOut(**v) for v in catalog.product_views(session, rows)]
    return Page(items=items, total=total, limit=paging.limit, offset=paging.offset)


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: IdPath, session: SessionDep, _p: AnyRole) -> ProductOut:
    """One product with its current price."""
    return ProductOut(**catalog.product_views(session, [catalog.get_product(session, product_id)])[0])


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(product_id: IdPath, body: ProductPatch, session: SessionDep, _p: Operator) -> ProductOut:
    """Change a product (name, barcodes, weights, threshold, active)."""
    product = catalog.update_product(session, product_id, body.model_dump(exclude_unset=True, exclude_none=True))
    return ProductOut(**catalog.product_views(session, [product])[0])


@router.post("/products/{product_id}/prices", status_code=status.HTTP_201_CREATED, response_model=PriceOut)
def add_price(product_id: IdPath, body: PriceIn, session: SessionDep, _p: Operator) -> PriceOut:
    """Schedule a price change (effective now by default)."""
    change = catalog.add_price(
        session,
        product_id,
        price_cents=body.price_cents,
        price_per_kg_cents=body.price_per_kg_cents,
        effective_from=body.effective_from,
    )
    return PriceOut.model_validate(change)


@router.get("/products/{product_id}/prices", response_model=list[PriceOut])
def list_prices(product_id: IdPath, session: SessionDep, _p: AnyRole) -> list[PriceOut]:
    """Every recorded price change of a product, by effective time."""
    catalog.get_product(session, product_id)
    rows = session.scalars(
        select(PriceChange)
        .where(PriceChange.product_id == product_id)
        .order_by(PriceChange.effective_from, PriceChange.id)
    )
    return [PriceOut.model_validate(r) for r in rows]


@router.post(
    "/products/{product_id}/images",
    status_code=status.HTTP_201_CREATED,
    response_model=ImageOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in catalog.IMAGE_TYPES},
        }
    },
)
async def add_image(product_id: IdPath, request: Request, session: SessionDep, _p: Staff) -> ImageOut:
    """Upload an enrolment image (raw body, PNG/JPEG/WebP, at most 2 MiB)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in catalog.IMAGE_TYPES:
        raise Invalid(f"content type must be one of {', '.join(catalog.IMAGE_TYPES)}")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > catalog.MAX_IMAGE_BYTES:
            raise Invalid("image is larger than 2 MiB")
    return ImageOut.model_validate(catalog.add_image(session, product_id, content_type, bytes(data)))


@router.get(
    "/products/{product_id}/images/{image_id}",
    response_class=Response,
    responses={200: {"content": {t: {"schema": {"type": "string", "format": "binary"}} for t in catalog.IMAGE_TYPES}}},
)
def get_image(
    product_id: IdPath, session: SessionDep, _p: AnyRole, image_id: int = Path(ge=1, le=2**31 - 1)
) -> Response:
    """Download an enrolment image."""
    image = session.get(ProductImage, image_id)
    if image is None or image.product_id != product_id:
        raise NotFound(f"image {image_id} of product {product_id!r} not found")
    return Response(image.data, media_type=image.content_type)


@router.post("/promotions", status_code=status.HTTP_201_CREATED, response_model=PromotionOut)
def create_promotion(body: PromotionIn, session: SessionDep, _p: Operator) -> PromotionOut:
    """Create a promotion (stores apply it between its effective times)."""
    return PromotionOut.model_validate(catalog.create_promotion(session, body.model_dump()))


@router.get("/promotions", response_model=Page[PromotionOut])
def list_promotions(
    session: SessionDep, _p: AnyRole, paging: PagingDep, active: bool | None = None
) -> Page[PromotionOut]:
    """List promotions."""
    query = select(PromotionRow).order_by(PromotionRow.effective_from, PromotionRow.id)
    if active is not None:
        query = query.where(PromotionRow.active.is_(active))
    rows, total = paginate(session, query, paging)
    return Page(
        items=[PromotionOut.model_validate(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset
    )


@router.delete("/promotions/{promotion_id}", response_model=PromotionOut)
def end_promotion(promotion_id: IdPath, session: SessionDep, _p: Operator) -> PromotionOut:
    """End a promotion now."""
    return PromotionOut.model_validate(catalog.end_promotion(session, promotion_id))
