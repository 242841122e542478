"""Product rules: city from the GPS fix, owner-only writes, soft delete, city listing."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from taskgo.errors import AppError
from taskgo.geo.service import resolve_city
from taskgo.locations.service import record_fix
from taskgo.pagination import apply_keyset, page_of
from taskgo.products.models import Product, ProductStatus
from taskgo.products.schemas import ProductCreateIn, ProductUpdateIn
from taskgo.users.models import User

log = structlog.get_logger(__name__)

SEARCH_CONFIG = "portuguese"


def strip_accents(value: str) -> str:
    """`Pão de Açúcar` → `Pao de Acucar`, so searches match with or without accents."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _search_document(title: str, description: str) -> object:
    return func.to_tsvector(SEARCH_CONFIG, strip_accents(f"{title}\n{description}"))


def _with_images(query: Select[Any]) -> Select[Any]:
    return query.options(selectinload(Product.images))


async def create_product(session: AsyncSession, *, seller: User, data: ProductCreateIn) -> Product:
    """Create a product in the city of this request's GPS fix; it stays there for good."""
    city = resolve_city(data.lat, data.lng)
    await record_fix(session, user=seller, lat=data.lat, lng=data.lng, accuracy=data.accuracy)

    product = Product(
        seller_id=seller.id,
        title=data.title,
        description=data.description,
        price_cents=data.price,
        category=data.category,
        stock=data.stock,
        status=data.status,
        created_in_city_id=city.ibge_code,
        search_document=_search_document(data.title, data.description),
    )
    session.add(product)
    await session.flush()
    log.info("product.created", product_id=str(product.id), city_id=city.ibge_code)
    return await get_product_row(session, product.id)


async def get_product_row(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.scalar(
        _with_images(select(Product).where(Product.id == product_id)).execution_options(
            populate_existing=True
        )
    )
    if product is None:
        raise AppError("product.not_found", status=404)
    return product


async def get_visible_product(
    session: AsyncSession, *, product_id: uuid.UUID, viewer: User | None
) -> Product:
    """Active products are public; drafts and deleted ones exist only for their owner."""
    product = await session.scalar(_with_images(select(Product).where(Product.id == product_id)))
    if product is None or product.status == ProductStatus.DELETED:
        raise AppError("product.not_found", status=404)
    if product.status == ProductStatus.DRAFT and (viewer is None or viewer.id != product.seller_id):
        raise AppError("product.not_found", status=404)
    return product


async def _owned_product(session: AsyncSession, *, product_id: uuid.UUID, user: User) -> Product:
    product = await get_visible_product(session, product_id=product_id, viewer=user)
    if product.seller_id != user.id:
        raise AppError("product.not_owner", status=403)
    return product


async def update_product(
    session: AsyncSession, *, product_id: uuid.UUID, user: User, changes: ProductUpdateIn
) -> Product:
    product = await _owned_product(session, product_id=product_id, user=user)
    # Attributes, not model_dump(): dumping would turn the price back into a "19.99" string.
    fields = {name: getattr(changes, name) for name in changes.model_fields_set}
    for name in ("title", "description", "category", "stock", "status"):
        if fields.get(name) is not None:
            setattr(product, name, fields[name])
    if fields.get("price") is not None:
        product.price_cents = fields["price"]
    if "title" in fields or "description" in fields:
        product.search_document = _search_document(product.title, product.description)  # type: ignore[assignment]
    await session.flush()
    log.info("product.updated", product_id=str(product.id), fields=sorted(fields))
    return await get_product_row(session, product.id)


async def delete_product(session: AsyncSession, *, product_id: uuid.UUID, user: User) -> None:
    """Soft delete: the row stays for purchases that reference it; listings drop it."""
    product = await _owned_product(session, product_id=product_id, user=user)
    product.status = ProductStatus.DELETED
    product.deleted_at = datetime.now(UTC)
    await session.flush()
    log.info("product.deleted", product_id=str(product.id))


@dataclass(frozen=True)
class ListingFilters:
    category: str | None = None
    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None


def _filtered(query: Select[Any], filters: ListingFilters) -> Select[Any]:
    if filters.category:
        query = query.where(Product.category == filters.category)
    if filters.min_price is not None:
        query = query.where(Product.price_cents >= filters.min_price)
    if filters.max_price is not None:
        query = query.where(Product.price_cents <= filters.max_price)
    if filters.q:
        ts_query = func.websearch_to_tsquery(SEARCH_CONFIG, strip_accents(filters.q))
        query = query.where(Product.search_document.op("@@")(ts_query))
    return query


async def list_city_products(
    session: AsyncSession,
    *,
    city_id: int,
    filters: ListingFilters,
    cursor: str | None,
    limit: int,
) -> tuple[list[Product], str | None]:
    """Active products created in `city_id`, newest first, keyset-paginated on (created_at, id)."""
    query = _filtered(
        select(Product).where(
            Product.created_in_city_id == city_id, Product.status == ProductStatus.ACTIVE
        ),
        filters,
    )
    query = apply_keyset(
        _with_images(query),
        created_at=Product.created_at,
        row_id=Product.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list((await session.scalars(query)).all())
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))


async def list_seller_products(
    session: AsyncSession, *, seller: User, cursor: str | None, limit: int
) -> tuple[list[Product], str | None]:
    """List the seller's own products in every city, drafts included, deleted ones left out."""
    query = select(Product).where(
        Product.seller_id == seller.id, Product.status != ProductStatus.DELETED
    )
    query = apply_keyset(
        _with_images(query),
        created_at=Product.created_at,
        row_id=Product.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list((await session.scalars(query)).all())
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))


async def products_by_ids(
    session: AsyncSession, product_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Product]:
    rows = await session.scalars(select(Product).where(Product.id.in_(product_ids)))
    return {row.id: row for row in rows}


async def resolve_listing_city(
    session: AsyncSession, *, user: User, lat: float, lng: float, accuracy: float | None
) -> int:
    """Return the city listed for a caller at (lat, lng) and record the fix as their location."""
    city = resolve_city(lat, lng)
    await record_fix(session, user=user, lat=lat, lng=lng, accuracy=accuracy)
    return city.ibge_code
