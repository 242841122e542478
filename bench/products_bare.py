"""The baseline of the products listing benchmark: Starlette + asyncpg, no FastAPI, no ORM.

`GET /api/products?lat&lng&limit` runs, in one transaction, the statements that our
endpoint runs for a first page. They are in `FULL_STATEMENTS`, written exactly as SQLAlchemy
emits them, and the benchmark compares them with a capture of our endpoint on every run:

1. the caller by Firebase uid (after the same RS256 token checks, done with PyJWT),
2. the row lock on the caller, their current stay, the stay and user updates (the GPS fix),
3. the page of products and the photos of the page.

`GET /api/bare/page?lat&lng&limit` runs only step 3 and takes no token: the ceiling of the
page query alone. Responses have the shape of ours (camelCase, `"80.19"` prices, image URLs,
`city`) and echo `X-Request-Id` like our middleware.

    BARE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/DB BARE_KEY_PATH=var/key.pem \
        uvicorn bench.products_bare:app --host 127.0.0.1 --port 8201 --loop uvloop --http httptools
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from taskgo.auth.dev import DevIssuer
from taskgo.geo.service import get_city, get_index, resolve_city_with_distance
from taskgo.money import format_centavos
from taskgo.pagination import encode_cursor
from taskgo.products.service import ListingFilters, listing_key, tagged_cursor

# The page of the benchmark has no filters; its cursor is tagged like ours.
_NO_FILTERS = ListingFilters()

USER_BY_UID = (
    "SELECT users.firebase_uid, users.role, users.name, users.email, users.phone, users.locale, "
    "users.current_city_id, users.verification_status, users.verified_cpf_encrypted, "
    "users.verified_at, users.last_seen_at, users.id, users.created_at, users.updated_at "
    "FROM users WHERE users.firebase_uid = $1::VARCHAR"
)
TOUCH_USER = (
    "UPDATE users SET last_seen_at = clock_timestamp(), updated_at = clock_timestamp() "
    "WHERE users.id = $1 RETURNING users.last_seen_at"
)
REFRESH_STAY = (
    "UPDATE user_locations SET last_lat = $1, last_lng = $2, last_accuracy_m = $3, "
    "last_seen_at = $4, updated_at = $4, fix_count = user_locations.fix_count + 1, "
    "pending_city_id = NULL, pending_count = 0 WHERE user_locations.user_id = $5 "
    "AND user_locations.is_current AND user_locations.city_id = $6 RETURNING user_locations.id"
)
PAGE = (
    "SELECT products.id, products.seller_id, products.title, products.description, "
    "products.price_cents, products.category, products.stock, products.status, "
    "products.created_in_city_id, products.created_at, products.updated_at FROM products "
    "WHERE products.created_in_city_id = $1::INTEGER AND products.status = 'active' "
    "ORDER BY products.created_at DESC, products.id DESC LIMIT $2"
)
PAGE_IMAGES = (
    "SELECT product_images.product_id, product_images.id, product_images.width, "
    "product_images.height, product_images.position FROM product_images "
    "WHERE product_images.product_id = ANY ($1::UUID[]) "
    "ORDER BY product_images.product_id, product_images.position"
)

FULL_STATEMENTS = [USER_BY_UID, TOUCH_USER, REFRESH_STAY, PAGE, PAGE_IMAGES]

MAX_LIMIT = 100
_JSON = {"Content-Type": "application/json"}


def _headers(request: Request) -> dict[str, str]:
    request_id = request.headers.get("x-request-id")
    return {**_JSON, "X-Request-Id": request_id} if request_id else _JSON


def _error(status: int, code: str) -> Response:
    return Response(orjson.dumps({"error": {"code": code}}), status_code=status, headers=_JSON)


class Verifier:
    """The checks of taskgo.auth.tokens for a dev token: RS256, kid, aud, iss, exp, sub."""

    def __init__(self, key_path: Path, project_id: str) -> None:
        issuer = DevIssuer.load_or_create(key_path, project_id=project_id)
        self.kid = issuer.kid
        self.key = issuer.public_key
        self.project_id = project_id
        self.issuer = "https://securetoken.google.com/" + project_id

    def uid(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            if jwt.get_unverified_header(token).get("kid") != self.kid:
                return None
            claims = jwt.decode(
                token,
                self.key,
                algorithms=["RS256"],
                audience=self.project_id,
                issuer=self.issuer,
                leeway=60,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]},
            )
        except jwt.PyJWTError:
            return None
        subject = claims.get("sub")
        if (
            not isinstance(subject, str)
            or not subject
            or claims.get("auth_time", 0) > time.time() + 60
        ):
            return None
        return subject


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _page_body(
    rows: list[asyncpg.Record], images: list[asyncpg.Record], *, limit: int, city_id: int
) -> bytes:
    by_product: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for image in images:
        by_product.setdefault(image["product_id"], []).append(
            {
                "id": str(image["id"]),
                "url": f"/api/products/{image['product_id']}/images/{image['id']}",
                "width": image["width"],
                "height": image["height"],
                "position": image["position"],
            }
        )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        position = encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
        next_cursor = tagged_cursor(position, listing_key("city", city_id, _NO_FILTERS))
    city = get_city(city_id)
    city_out = {"id": city.ibge_code, "name": city.name, "uf": city.uf} if city else None
    items = []
    for row in rows:
        created = get_city(row["created_in_city_id"])
        items.append(
            {
                "id": str(row["id"]),
                "title": row["title"],
                "description": row["description"],
                "price": format_centavos(row["price_cents"]),
                "category": row["category"],
                "stock": row["stock"],
                "status": row["status"],
                "sellerId": str(row["seller_id"]),
                "createdInCity": {"id": created.ibge_code, "name": created.name, "uf": created.uf}
                if created
                else None,
                "images": by_product.get(row["id"], []),
                "createdAt": _iso(row["created_at"]),
                "updatedAt": _iso(row["updated_at"]),
            }
        )
    return orjson.dumps({"items": items, "nextCursor": next_cursor, "city": city_out})


async def _page(connection: asyncpg.Connection, *, city_id: int, limit: int) -> bytes:
    rows = await connection.fetch(PAGE, city_id, limit + 1)
    images = await connection.fetch(PAGE_IMAGES, [row["id"] for row in rows]) if rows else []
    return _page_body(rows, images, limit=limit, city_id=city_id)


def _query_args(request: Request) -> tuple[float, float, int] | None:
    try:
        lat = float(request.query_params["lat"])
        lng = float(request.query_params["lng"])
        limit = int(request.query_params.get("limit", "20"))
    except (KeyError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180 and 1 <= limit <= MAX_LIMIT):
        return None
    return lat, lng, limit


async def list_products(request: Request) -> Response:
    args = _query_args(request)
    if args is None:
        return _error(422, "validation.query")
    lat, lng, limit = args
    city, _ = resolve_city_with_distance(lat, lng)
    pool: asyncpg.Pool = request.app.state.pool
    uid = request.app.state.verifier.uid(request.headers.get("authorization", ""))
    if uid is None:
        return _error(401, "auth.invalid_token")
    async with pool.acquire() as connection, connection.transaction():
        user = await connection.fetchrow(USER_BY_UID, uid)
        if user is None:
            return _error(401, "auth.unknown_user")
        now = await connection.fetchval(TOUCH_USER, user["id"])
        # The benchmark's clients are already in the listed city, so the fix only refreshes
        # the stay: the statements our endpoint runs for a fix in the same city.
        stay_id = await connection.fetchval(
            REFRESH_STAY, lat, lng, None, now, user["id"], city.ibge_code
        )
        if stay_id is None:
            return _error(409, "bench.client_not_in_city")
        body = await _page(connection, city_id=city.ibge_code, limit=limit)
    return Response(body, headers=_headers(request))


async def page_only(request: Request) -> Response:
    args = _query_args(request)
    if args is None:
        return _error(422, "validation.query")
    lat, lng, limit = args
    city, _ = resolve_city_with_distance(lat, lng)
    async with request.app.state.pool.acquire() as connection:
        body = await _page(connection, city_id=city.ibge_code, limit=limit)
    return Response(body, headers=_headers(request))


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["BARE_DATABASE_URL"]
    app.state.verifier = Verifier(
        Path(os.environ["BARE_KEY_PATH"]), os.environ.get("BARE_PROJECT_ID", "taskgo-dev")
    )
    get_index()
    # The same maximum as our engine's default pool (20 connections). Idle connections
    # close soon because other benchmarks and test runs share the server's connection limit.
    app.state.pool = await asyncpg.create_pool(
        url, min_size=2, max_size=20, max_inactive_connection_lifetime=10.0
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[Route("/api/products", list_products), Route("/api/bare/page", page_only)],
    lifespan=lifespan,
)
