"""Product rules: city from the GPS fix, owner-only writes, soft delete, city listing."""

from __future__ import annotations

import functools
import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import orjson
import structlog
from sqlalchemy import (
    ARRAY,
    Select,
    String,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from taskgo.db.session import driver_connection
from taskgo.errors import AppError
from taskgo.geo.service import resolve_city
from taskgo.locations.service import record_fix
from taskgo.pagination import keyset_params, keyset_template, page_of
from taskgo.products.models import Product, ProductImage, ProductStatus
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
    session: AsyncSession, *, product_id: uuid.UUID, viewer: User | None, lock: bool = False
) -> Product:
    """Return an active product to anyone and a draft only to its owner, else raise 404."""
    query = _with_images(select(Product).where(Product.id == product_id))
    product = await session.scalar(query.with_for_update(of=Product) if lock else query)
    if product is None or product.status == ProductStatus.DELETED:
        raise AppError("product.not_found", status=404)
    if product.status == ProductStatus.DRAFT and (viewer is None or viewer.id != product.seller_id):
        raise AppError("product.not_found", status=404)
    return product


async def _owned_product(session: AsyncSession, *, product_id: uuid.UUID, user: User) -> Product:
    # Locked, so a PATCH and a DELETE at once cannot undo each other (a deleted product
    # made active again).
    product = await get_visible_product(session, product_id=product_id, viewer=user, lock=True)
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
    if product.images:
        # Imported here because the images module imports this one.
        from taskgo.products.images import schedule_file_deletion

        await schedule_file_deletion(session, product_id=product.id)


@dataclass(frozen=True)
class ListingFilters:
    category: str | None = None
    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None


# The listings are built with SQLAlchemy Core once per combination of filters, compiled to
# SQL, and sent to asyncpg directly. The city listing is the most frequent read of the API,
# and loading ORM entities, then SQLAlchemy's statement layer, cost more CPU than the
# database spent on the query.
_products = Product.__table__
_images = ProductImage.__table__
_LISTED_COLUMNS = (
    _products.c.id,
    _products.c.seller_id,
    _products.c.title,
    _products.c.description,
    _products.c.price_cents,
    _products.c.category,
    _products.c.stock,
    _products.c.status,
    _products.c.created_in_city_id,
    _products.c.created_at,
    _products.c.updated_at,
)
LISTED_FIELDS = tuple(column.key for column in _LISTED_COLUMNS)
IMAGE_FIELDS = ("id", "width", "height", "position")
# Literals, not parameters: a prepared statement with `status = $2` cannot use the partial
# index `ix_products_city_listing` (WHERE status = 'active') once it switches to a generic plan.
_IS_ACTIVE = _products.c.status == literal_column("'active'")
_NOT_DELETED = _products.c.status != literal_column("'deleted'")
_IMAGES_OF = (
    select(
        _images.c.product_id,
        _images.c.id,
        _images.c.width,
        _images.c.height,
        _images.c.position,
    )
    .where(_images.c.product_id == any_(bindparam("product_ids", type_=ARRAY(UUID))))
    .order_by(_images.c.product_id, _images.c.position)
)

ListingScope = Literal["city", "seller"]


@functools.cache
def _listing_statement(
    scope: ListingScope,
    *,
    category: bool,
    search: bool,
    min_price: bool,
    max_price: bool,
    with_cursor: bool,
) -> Select[Any]:
    """Build the listing query for one combination of filters, once, with bind parameters.

    A statement built per request made SQLAlchemy compute its cache key each time, which cost
    as much CPU as running it.
    """
    if scope == "city":
        query = select(*_LISTED_COLUMNS).where(
            _products.c.created_in_city_id == bindparam("scope_id"), _IS_ACTIVE
        )
    else:
        query = select(*_LISTED_COLUMNS).where(
            _products.c.seller_id == bindparam("scope_id"), _NOT_DELETED
        )
    if category:
        query = query.where(_products.c.category == bindparam("category"))
    if min_price:
        query = query.where(_products.c.price_cents >= bindparam("min_price"))
    if max_price:
        query = query.where(_products.c.price_cents <= bindparam("max_price"))
    if search:
        ts_query = func.websearch_to_tsquery(SEARCH_CONFIG, bindparam("search", type_=String))
        query = query.where(_products.c.search_document.op("@@")(ts_query))
    return keyset_template(
        query,
        created_at=_products.c.created_at,
        row_id=_products.c.id,
        with_cursor=with_cursor,
    )


_DIALECT = asyncpg_dialect()


@dataclass(frozen=True)
class CompiledListing:
    """SQL text for asyncpg and the bind parameter names in the order of its `$n`."""

    sql: str
    names: tuple[str, ...]
    # Values fixed when the statement was built, such as the text search configuration.
    fixed: dict[str, Any]

    @classmethod
    def of(cls, statement: Select[Any]) -> CompiledListing:
        compiled = statement.compile(dialect=_DIALECT)
        fixed = {name: value for name, value in compiled.params.items() if value is not None}
        return cls(str(compiled), tuple(compiled.positiontup or ()), fixed)

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[name] if name in params else self.fixed[name] for name in self.names]


@functools.cache
def _compiled_listing(scope: ListingScope, **shape: bool) -> CompiledListing:
    return CompiledListing.of(_listing_statement(scope, **shape))


_IMAGES_SQL = CompiledListing.of(_IMAGES_OF)


@dataclass(frozen=True)
class ListedPage:
    """A page of listed products, their photos by product id, and the next cursor.

    Rows are asyncpg records with the keys of LISTED_FIELDS (photos: product_id and
    IMAGE_FIELDS).
    """

    rows: list[asyncpg.Record]
    images: dict[uuid.UUID, list[asyncpg.Record]]
    next_cursor: str | None


def listing_key(scope: ListingScope, scope_id: object, filters: ListingFilters) -> bytes:
    """Return the bytes that identify one listing: its scope, city or seller, and filters."""
    return orjson.dumps([scope, str(scope_id), filters])


def _cursor_tag(position: str, key: bytes) -> str:
    return hashlib.sha256(key + b"\n" + position.encode()).hexdigest()[:16]


def tagged_cursor(position: str, key: bytes) -> str:
    """Return the nextCursor for a keyset position of the listing identified by `key`."""
    return f"{position}.{_cursor_tag(position, key)}"


def _cursor_position(cursor: str | None, key: bytes) -> str | None:
    """Return the keyset position inside `cursor`, or raise if the cursor is from another listing.

    A cursor from another city or with other filters would resume at its position in that
    other listing, and so skip the newer products of this one. The tag also covers the
    position, so an edited cursor fails too. The tag has no secret key: a client that
    recomputes it only moves its own position, and decode_cursor still checks the values.
    """
    if not cursor:
        return None
    position, _, tag = cursor.rpartition(".")
    if not position or tag != _cursor_tag(position, key):
        raise AppError("pagination.invalid_cursor", status=422, field="cursor")
    return position


async def _listed_page(
    session: AsyncSession,
    scope: ListingScope,
    scope_id: object,
    filters: ListingFilters,
    *,
    cursor: str | None,
    limit: int,
) -> ListedPage:
    """Run a listing query and fetch the photos of the page at once: two statements whatever
    the page size."""
    key = listing_key(scope, scope_id, filters)
    position = _cursor_position(cursor, key)
    listing = _compiled_listing(
        scope,
        category=filters.category is not None,
        search=filters.q is not None,
        min_price=filters.min_price is not None,
        max_price=filters.max_price is not None,
        with_cursor=position is not None,
    )
    params: dict[str, Any] = {"scope_id": scope_id, **keyset_params(position, limit)}
    if filters.category is not None:
        params["category"] = filters.category
    if filters.q is not None:
        params["search"] = strip_accents(filters.q)
    if filters.min_price is not None:
        params["min_price"] = filters.min_price
    if filters.max_price is not None:
        params["max_price"] = filters.max_price
    driver = await driver_connection(session)
    fetched = await driver.fetch(listing.sql, *listing.args(params))
    rows, next_position = page_of(
        fetched, limit=limit, key=lambda row: (row["created_at"], row["id"])
    )
    next_cursor = None if next_position is None else tagged_cursor(next_position, key)
    images: dict[uuid.UUID, list[asyncpg.Record]] = {}
    if rows:
        for image in await driver.fetch(_IMAGES_SQL.sql, [row["id"] for row in rows]):
            images.setdefault(image["product_id"], []).append(image)
    return ListedPage(rows=rows, images=images, next_cursor=next_cursor)


async def list_city_products(
    session: AsyncSession,
    *,
    city_id: int,
    filters: ListingFilters,
    cursor: str | None,
    limit: int,
) -> ListedPage:
    """Active products created in `city_id`, newest first, keyset-paginated on (created_at, id)."""
    return await _listed_page(session, "city", city_id, filters, cursor=cursor, limit=limit)


async def list_seller_products(
    session: AsyncSession, *, seller: User, cursor: str | None, limit: int
) -> ListedPage:
    """List the seller's own products in every city, drafts included, deleted ones left out."""
    return await _listed_page(
        session, "seller", seller.id, ListingFilters(), cursor=cursor, limit=limit
    )


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
