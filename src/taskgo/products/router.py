"""HTTP routes of products: create from GPS, list by the caller's city, owner writes, photos."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Query, Response, UploadFile, status
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException

from taskgo.auth.deps import CurrentUser, OptionalUser, PartnerUser
from taskgo.db.session import DbSession, commit
from taskgo.errors import AppError
from taskgo.geo.schemas import Accuracy, Latitude, Longitude
from taskgo.geo.service import get_city
from taskgo.i18n import Amount
from taskgo.idempotency import IdempotencyKey, claim, remember
from taskgo.money import format_centavos, parse_centavos
from taskgo.pagination import Cursor, Limit
from taskgo.products import images as product_images
from taskgo.products import service
from taskgo.products.models import Product
from taskgo.products.schemas import (
    ProductCreateIn,
    ProductOut,
    ProductPage,
    ProductUpdateIn,
)
from taskgo.uploads.service import prepare_image

router = APIRouter(prefix="/api", tags=["products"])

# Phone cameras produce up to ~12 MB; the uploads layer rejects more than 10 MB itself.
MAX_IMAGE_REQUEST_BYTES = 12 * 1024 * 1024
PUBLIC_IMAGE_MAX_AGE_SECONDS = 300


def _city_json(city_id: int | None) -> dict[str, Any] | None:
    city = get_city(city_id) if city_id is not None else None
    return None if city is None else {"id": city.ibge_code, "name": city.name, "uf": city.uf}


def product_json(product: Mapping[str, Any], images: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return a product in the `ProductOut` shape, for orjson (which writes UUIDs and datetimes).

    `product` has the keys of service.LISTED_FIELDS and each image those of IMAGE_FIELDS: an
    asyncpg record of the listing, or `orm_fields` of an ORM product.

    Product routes write their JSON with this instead of validating `ProductOut` models: a
    page is the most frequent response of the API, and validating twenty models per request
    cost more CPU than its SQL. tests/products checks the output against the schema.
    """
    product_id = product["id"]
    return {
        "id": product_id,
        "title": product["title"],
        "description": product["description"],
        "price": format_centavos(product["price_cents"]),
        "category": product["category"],
        "stock": product["stock"],
        "status": product["status"],
        "sellerId": product["seller_id"],
        "createdInCity": _city_json(product["created_in_city_id"]),
        "images": [
            {
                "id": image["id"],
                "url": product_images.image_url(product_id, image["id"]),
                "width": image["width"],
                "height": image["height"],
                "position": image["position"],
            }
            for image in images
        ],
        "createdAt": product["created_at"],
        "updatedAt": product["updated_at"],
    }


def orm_fields(product: Product) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the fields of an ORM product and its photos, for `product_json`."""
    fields = {name: getattr(product, name) for name in service.LISTED_FIELDS}
    images = [
        {name: getattr(image, name) for name in service.IMAGE_FIELDS} for image in product.images
    ]
    return fields, images


def _json_bytes(body: dict[str, Any]) -> bytes:
    # OPT_UTC_Z writes `…Z` for UTC times, as pydantic does in the other routes. asyncpg's
    # own UUID type is not orjson's uuid.UUID: `str` writes it.
    return orjson.dumps(body, default=str, option=orjson.OPT_UTC_Z)


def _json_response(body: dict[str, Any], *, status_code: int = 200) -> Response:
    return Response(_json_bytes(body), status_code=status_code, media_type="application/json")


def product_response(product: Product, *, status_code: int = 200) -> Response:
    return _json_response(product_json(*orm_fields(product)), status_code=status_code)


def page_response(page: service.ListedPage, *, city_id: int | None = None) -> Response:
    """Write a `ProductPage` as JSON."""
    return _json_response(
        {
            "items": [product_json(row, page.images.get(row["id"], ())) for row in page.rows],
            "nextCursor": page.next_cursor,
            "city": _city_json(city_id),
        }
    )


async def _create(
    body: ProductCreateIn,
    user: PartnerUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> Response:
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
    encoded = _json_bytes(product_json(*orm_fields(product)))
    await remember(session, claimed, status_code=201, body=orjson.loads(encoded))
    return Response(encoded, status_code=201, media_type="application/json")


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


async def _create_alias_other_methods() -> None:
    # Without this route, GET /api/products/create would reach GET /api/products/{id} and
    # fail as an invalid id (422) instead of naming the method (405).
    raise StarletteHTTPException(status_code=405)


router.add_api_route(
    "/products/create",
    _create_alias_other_methods,
    methods=["GET", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)


def _price_query(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        # A filter may start at zero ("from R$ 0"), unlike a price.
        return parse_centavos(value, minimum=0)
    except PydanticCustomError as exc:
        raise AppError(exc.type, status=422, field=field, **(exc.context or {})) from None


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
) -> Response:
    """Active products of the city the caller is in now (from lat/lng), newest first."""
    low = _price_query(min_price, "minPrice")
    high = _price_query(max_price, "maxPrice")
    if low is not None and high is not None and low > high:
        # An empty page would read as "nothing for sale here" rather than a swapped filter.
        raise AppError(
            "product.price_range_inverted",
            status=422,
            field="minPrice",
            minimum=Amount(low),
            maximum=Amount(high),
        )
    filters = service.ListingFilters(
        category=category or None, q=(q or "").strip() or None, min_price=low, max_price=high
    )
    city_id = await service.resolve_listing_city(
        session, user=user, lat=lat, lng=lng, accuracy=accuracy
    )
    page = await service.list_city_products(
        session, city_id=city_id, filters=filters, cursor=cursor, limit=limit
    )
    return page_response(page, city_id=city_id)


@router.get("/partners/me/products", response_model=ProductPage)
async def list_my_products(
    user: PartnerUser, session: DbSession, cursor: Cursor = None, limit: Limit = 20
) -> Response:
    page = await service.list_seller_products(session, seller=user, cursor=cursor, limit=limit)
    return page_response(page)


@router.get("/products/{product_id}", response_model=ProductOut)
async def get_product(product_id: uuid.UUID, user: CurrentUser, session: DbSession) -> Response:
    return product_response(
        await service.get_visible_product(session, product_id=product_id, viewer=user)
    )


@router.patch("/products/{product_id}", response_model=ProductOut)
async def patch_product(
    product_id: uuid.UUID, body: ProductUpdateIn, user: CurrentUser, session: DbSession
) -> Response:
    product = await service.update_product(session, product_id=product_id, user=user, changes=body)
    return product_response(product)


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
) -> Response:
    """Add a JPEG, PNG, WebP or HEIC photo of at most 10 MB; metadata is stripped.

    A product holds at most 8 photos.
    """
    if file.size is not None and file.size > MAX_IMAGE_REQUEST_BYTES:
        raise AppError("upload.file_too_large", status=413, field="file", max_megabytes=10)
    data = await file.read(MAX_IMAGE_REQUEST_BYTES + 1)
    # A missing or foreign product is reported before any decoding. Then the transaction
    # ends, so that its connection goes back to the pool while the image is decoded, which
    # can take seconds (as in POST /api/uploads). add_image checks again under its lock.
    await product_images.check_image_target(session, product_id=product_id, user=user)
    await commit(session)
    image = await prepare_image(data)
    product = await product_images.add_image(session, product_id=product_id, user=user, image=image)
    return product_response(product, status_code=201)


@router.delete("/products/{product_id}/images/{image_id}", status_code=204)
async def delete_product_image(
    product_id: uuid.UUID, image_id: uuid.UUID, user: CurrentUser, session: DbSession
) -> Response:
    await product_images.remove_image(session, product_id=product_id, image_id=image_id, user=user)
    return Response(status_code=204)


@router.get("/products/{product_id}/images/{image_id}", include_in_schema=True)
async def get_product_image(
    product_id: uuid.UUID, image_id: uuid.UUID, viewer: OptionalUser, session: DbSession
) -> Response:
    """Serve a photo of an active product, or of a draft to its seller (with a token).

    Served with `X-Content-Type-Options: nosniff`.
    """
    data, content_type, public = await product_images.read_image(
        session, product_id=product_id, image_id=image_id, viewer=viewer
    )
    # The bytes never change, but a public photo must stop showing soon after its product
    # is deleted or hidden, so caches keep it for five minutes only. A draft's photo is
    # for its seller alone and is not cached.
    cache = f"public, max-age={PUBLIC_IMAGE_MAX_AGE_SECONDS}" if public else "private, no-store"
    return Response(
        content=data,
        media_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": cache},
    )
