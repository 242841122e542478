"""Benchmark data for the products listing: a fresh database, all cities, 20,000 products.

The database is created on the local PostgreSQL (127.0.0.1 only) and migrated to head, which
loads the municipalities. Plain SQL then adds sellers, clients whose current city is
Cascavel, products in Cascavel and in other cities, and photo rows for most products. Drafts
and deleted products are included so the partial listing index has rows to leave out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from taskgo.auth.dev import DevIssuer

CASCAVEL_IBGE = 4104808
CASCAVEL_LAT = -24.9555
CASCAVEL_LNG = -53.4552
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class SeedPlan:
    city_products: int = 20_000
    city_drafts: int = 1_000
    city_deleted: int = 1_000
    other_cities: int = 300
    products_per_other_city: int = 100
    sellers: int = 400
    clients: int = 1_000


@dataclass(frozen=True)
class SeededDatabase:
    url: str
    client_uids: list[str]
    counts: dict[str, int]
    seconds: float


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK_HOSTS:
        raise SystemExit(f"only a PostgreSQL on loopback may be used, not {host!r}")


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def create_database(server_url: str, name: str) -> str:
    require_loopback(server_url)
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# Rows are built in SQL (generate_series) so 52,000 products load in seconds. The created_at
# values are spaced 97 s apart with a per-row offset below one second, so no two rows of a
# city share a timestamp and the newest page is not one burst of identical times.
_SELLERS = """
INSERT INTO users (id, firebase_uid, role, name, locale, verification_status, created_at,
                   updated_at)
SELECT gen_random_uuid(), 'bench-seller-' || n, 'partner', 'Vendedor ' || n, 'pt_BR', 'verified',
       now() - interval '120 days', now() - interval '120 days'
FROM generate_series(1, %(sellers)s) AS n
"""

_CLIENTS = """
INSERT INTO users (id, firebase_uid, role, name, locale, verification_status, current_city_id,
                   last_seen_at, created_at, updated_at)
SELECT gen_random_uuid(), 'bench-client-' || n, 'client', 'Cliente ' || n, 'pt_BR',
       'unverified', %(city)s, now(), now() - interval '30 days', now() - interval '30 days'
FROM generate_series(1, %(clients)s) AS n
"""

_CLIENT_STAYS = """
INSERT INTO user_locations (id, user_id, city_id, is_current, entered_at, last_lat, last_lng,
                            last_accuracy_m, last_seen_at, fix_count, pending_count,
                            created_at, updated_at)
SELECT gen_random_uuid(), id, %(city)s, true, now() - interval '30 days', %(lat)s, %(lng)s,
       15.0, now(), 1, 0, now() - interval '30 days', now()
FROM users WHERE role = 'client' AND firebase_uid LIKE 'bench-client-%%'
"""

_PRODUCTS = """
WITH sellers AS (
    SELECT id, row_number() OVER (ORDER BY firebase_uid) - 1 AS k
    FROM users WHERE role = 'partner'
), rows AS (
    SELECT n, (array['eletronicos', 'moda', 'casa', 'esporte', 'livros', 'brinquedos',
                     'beleza', 'ferramentas'])[1 + n %% 8] AS category
    FROM generate_series(1, %(count)s::int) AS n
)
INSERT INTO products (id, seller_id, title, description, price_cents, category, stock, status,
                      created_in_city_id, search_document, deleted_at, created_at, updated_at)
SELECT gen_random_uuid(), s.id,
       'Produto ' || r.category || ' número ' || r.n,
       'Descrição do produto ' || r.n
           || ' em ótimo estado, retirada no centro ou entrega combinada.',
       100 + (r.n * 7919) %% 500000, r.category, r.n %% 40, %(status)s::text, %(city)s::int,
       to_tsvector('portuguese', 'Produto ' || r.category || ' numero ' || r.n
                   || ' Descricao do produto em otimo estado retirada no centro'
                   || ' ou entrega combinada'),
       CASE WHEN %(status)s::text = 'deleted' THEN now() END,
       now() - make_interval(secs => r.n * 97 + %(offset)s::int)
             - make_interval(secs => (r.n %% 1000) / 1000.0),
       now() - make_interval(secs => r.n * 97 + %(offset)s::int)
FROM rows r JOIN sellers s ON s.k = (r.n + %(offset)s::int) %% %(sellers)s::int
"""

# 0 to 3 photos per product (1.5 on average), the way a real listing mixes them.
_IMAGES = """
INSERT INTO product_images (id, product_id, position, storage_key, content_type, width, height,
                            sha256, created_at)
SELECT gen_random_uuid(), p.id, pos, 'products/' || p.id || '/' || pos || '.webp', 'image/webp',
       1280, 960, md5(p.id::text || pos) || md5(pos || p.id::text), p.created_at
FROM products p
CROSS JOIN LATERAL generate_series(0, (abs(hashtext(p.id::text)) % 4) - 1) AS pos
"""


def seed(url: str, plan: SeedPlan) -> SeededDatabase:
    """Fill a migrated database; returns the uids of the clients (one token each)."""
    started = time.perf_counter()
    with psycopg.connect(url) as connection:
        connection.execute(_SELLERS, {"sellers": plan.sellers})
        connection.execute(_CLIENTS, {"clients": plan.clients, "city": CASCAVEL_IBGE})
        connection.execute(
            _CLIENT_STAYS, {"city": CASCAVEL_IBGE, "lat": CASCAVEL_LAT, "lng": CASCAVEL_LNG}
        )
        batches = [
            (CASCAVEL_IBGE, plan.city_products, "active", 0),
            (CASCAVEL_IBGE, plan.city_drafts, "draft", 13),
            (CASCAVEL_IBGE, plan.city_deleted, "deleted", 29),
        ]
        other_ids = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM cities WHERE id <> %s ORDER BY hashtext(id::text) LIMIT %s",
                (CASCAVEL_IBGE, plan.other_cities),
            )
        ]
        batches += [
            (city, plan.products_per_other_city, "active", 7 + i)
            for i, city in enumerate(other_ids)
        ]
        for city, count, status, offset in batches:
            connection.execute(
                _PRODUCTS,
                {
                    "count": count,
                    "status": status,
                    "city": city,
                    "offset": offset,
                    "sellers": plan.sellers,
                },
            )
        connection.execute(_IMAGES)
        counts = {
            "cities": _count(connection, "SELECT count(*) FROM cities"),
            "products": _count(connection, "SELECT count(*) FROM products"),
            "city_active_products": _count(
                connection,
                "SELECT count(*) FROM products WHERE created_in_city_id = %s AND status = 'active'",
                CASCAVEL_IBGE,
            ),
            "product_images": _count(connection, "SELECT count(*) FROM product_images"),
            "users": _count(connection, "SELECT count(*) FROM users"),
        }
        connection.commit()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    client_uids = [f"bench-client-{n}" for n in range(1, plan.clients + 1)]
    return SeededDatabase(
        url=url, client_uids=client_uids, counts=counts, seconds=time.perf_counter() - started
    )


def _count(connection: psycopg.Connection[tuple[int]], query: str, *params: object) -> int:
    row = connection.execute(query, params or None).fetchone()
    return int(row[0]) if row else 0


def issue_tokens(
    key_path: Path, uids: list[str], *, project_id: str, ttl_seconds: int = 7200
) -> list[str]:
    """Dev tokens for `uids`, signed with the key the server under test is started with."""
    issuer = DevIssuer.load_or_create(key_path, project_id=project_id)
    return [
        issuer.issue(uid=uid, role="client", name="Cliente", ttl_seconds=ttl_seconds)
        for uid in uids
    ]
