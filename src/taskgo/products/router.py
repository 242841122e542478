"""HTTP routes of products: create from GPS, list by the caller's city, owner writes, photos."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic_core import PydanticCustomError

from taskgo.auth.deps import CurrentUser, PartnerUser
from taskgo.db.session import DbSession
from taskgo.errors import AppError
from taskgo.geo.schemas import Accuracy, Latitude, Longitude
from taskgo.idempotency import IdempotencyKey, claim, remember
from taskgo.money import parse_centavos
from taskgo.pagination import Cursor, Limit
from taskgo.products import images as product_images
from taskgo.products import service
from taskgo.products.models import Product
from taskgo.products.schemas import (
    ProductCreateIn,
    ProductImageOut,
    ProductOut,
    ProductPage,
    ProductUpdateIn,
)
from taskgo.users.service import city_view

router = APIRouter(prefix="/api", tags=["products"])

# Phone cameras produce up to ~12 MB; the uploads layer rejects more than 10 MB itself.
MAX_IMAGE_REQUEST_BYTES = 12 * 1024 * 1024


def product_out(product: Product) -> ProductOut:
    return ProductOut(
        id=product.id,
        title=product.title,
        description=product.description,
        price=product.price_cents,
        category=product.category,
        stock=product.stock,
        status=product.status,
        seller_id=product.seller_id,
        created_in_city=city_view(product.created_in_city_id),
        images=[
            ProductImageOut(
                id=image.id,
                url=product_images.image_url(product.id, image.id),
                width=image.width,
                height=image.height,
                position=image.position,
            )
            for image in product.images
        ],
        created_at=product.created_at,
        updated_at=product.updated_at,
    )


async def _create(
    body: ProductCreateIn,
    user: PartnerUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    claimed = await claim(
        session,
        user_id=user.id,
        scope="products.create",
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    if claimed.replay is not None:
        return claimed.replay
    product = await service.create_product(session, seller=user, data=body)
    payload = product_out(product).model_dump(mode="json")
    await remember(session, claimed, status_code=201, body=payload)
    return JSONResponse(payload, status_code=201)


router.add_api_route(
    "/products",
    _create,
    methods=["POST"],
    status_code=201,
    response_model=ProductOut,
    summary="Create a product in the city of the request's GPS fix",
)
router.add_api_route(
    "/products/create",
    _create,
    methods=["POST"],
    status_code=201,
    response_model=ProductOut,
    summary="Alias of POST /api/products",
)


def _price_query(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_centavos(value)
    except PydanticCustomError as exc:
        raise AppError(exc.type, status=422, field=field) from None


@router.get("/products", response_model=ProductPage)
async def list_products(
    user: CurrentUser,
    session: DbSession,
    lat: Annotated[Latitude, Query()],
    lng: Annotated[Longitude, Query()],
    accuracy: Annotated[Accuracy | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    min_price: Annotated[str | None, Query(alias="minPrice")] = None,
    max_price: Annotated[str | None, Query(alias="maxPrice")] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> ProductPage:
    """Active products of the city the caller is in now (from lat/lng), newest first."""
    filters = service.ListingFilters(
        category=category or None,
        q=(q or "").strip() or None,
        min_price=_price_query(min_price, "minPrice"),
        max_price=_price_query(max_price, "maxPrice"),
    )
    city_id = await service.resolve_listing_city(
        session, user=user, lat=lat, lng=lng, accuracy=accuracy
    )
    rows, next_cursor = await service.list_city_products(
        session, city_id=city_id, filters=filters, cursor=cursor, limit=limit
    )
    return ProductPage(
        items=[product_out(row) for row in rows], next_cursor=next_cursor, city=city_view(city_id)
    )


@router.get("/partners/me/products", response_model=ProductPage)
async def list_my_products(
    user: PartnerUser, session: DbSession, cursor: Cursor = None, limit: Limit = 20
) -> ProductPage:
    rows, next_cursor = await service.list_seller_products(
        session, seller=user, cursor=cursor, limit=limit
    )
    return ProductPage(items=[product_out(row) for row in rows], next_cursor=next_cursor)


@router.get("/products/{product_id}", response_model=ProductOut)
async def get_product(product_id: uuid.UUID, user: CurrentUser, session: DbSession) -> ProductOut:
    return product_out(
        await service.get_visible_product(session, product_id=product_id, viewer=user)
    )


@router.patch("/products/{product_id}", response_model=ProductOut)
async def patch_product(
    product_id: uuid.UUID, body: ProductUpdateIn, user: CurrentUser, session: DbSession
) -> ProductOut:
    product = await service.update_product(session, product_id=product_id, user=user, changes=body)
    return product_out(product)


@router.delete("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_product(product_id: uuid.UUID, user: CurrentUser, session: DbSession) -> Response:
    await service.delete_product(session, product_id=product_id, user=user)
    return Response(status_code=204)


@router.post("/products/{product_id}/images", response_model=ProductOut, status_code=201)
async def upload_product_image(
    product_id: uuid.UUID,
    user: CurrentUser,
    session: DbSession,
    file: Annotated[UploadFile, File()],
) -> ProductOut:
    """Add a JPEG, PNG, WebP or HEIC photo of at most 10 MB; metadata is stripped.

    A product holds at most 8 photos.
    """
    if file.size is not None and file.size > MAX_IMAGE_REQUEST_BYTES:
        raise AppError("upload.file_too_large", status=413, field="file", max_megabytes=10)
    data = await file.read(MAX_IMAGE_REQUEST_BYTES + 1)
    product = await product_images.add_image(session, product_id=product_id, user=user, data=data)
    return product_out(product)


@router.delete("/products/{product_id}/images/{image_id}", status_code=204)
async def delete_product_image(
    product_id: uuid.UUID, image_id: uuid.UUID, user: CurrentUser, session: DbSession
) -> Response:
    await product_images.remove_image(session, product_id=product_id, image_id=image_id, user=user)
    return Response(status_code=204)


@router.get("/products/{product_id}/images/{image_id}", include_in_schema=True)
async def get_product_image(
    product_id: uuid.UUID, image_id: uuid.UUID, session: DbSession
) -> Response:
    """Public photo of an active product, served with `X-Content-Type-Options: nosniff`."""
    data, content_type = await product_images.read_public_image(
        session, product_id=product_id, image_id=image_id
    )
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=86400, immutable",
        },
    )
