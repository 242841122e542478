"""pgbench scripts with the statements of the products listing (from bench/products_bare.py).

Two scripts: `listing` runs the page of products and its photos, the database work of a
page for any caller. `request` runs the whole transaction of our endpoint: the caller, both
updates of the GPS fix (the user, then the stay), the page and the photos. Placeholders
become pgbench variables. The ids of the page's products are written in as an array
literal, because a pgbench variable contains one row of a result, not 21.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from bench.products_bare import PAGE, PAGE_IMAGES, REFRESH_STAY, TOUCH_USER, USER_BY_UID
from bench.products_seed import CASCAVEL_LAT, CASCAVEL_LNG


def _bind(statement: str, values: list[str]) -> str:
    """Replace $1, $2 … (highest first, so $1 never eats the start of $12) with `values`."""
    for number in range(len(values), 0, -1):
        statement = re.sub(rf"\${number}(?!\d)", values[number - 1], statement)
    return statement


def page_ids(database_url: str, *, city_id: int, limit: int) -> list[str]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(_bind(PAGE, [str(city_id), str(limit + 1)])).fetchall()
    return [str(row[0]) for row in rows]


def write_scripts(
    directory: Path, *, database_url: str, city_id: int, limit: int, clients: int
) -> dict[str, Path]:
    ids = page_ids(database_url, city_id=city_id, limit=limit)
    page = _bind(PAGE, [":city", str(limit + 1)])
    images = _bind(PAGE_IMAGES, ["'{" + ",".join(ids) + "}'"])
    listing = "\n".join([f"\\set city {city_id}", page + ";", images + ";", ""])

    user = _bind(USER_BY_UID, ["('bench-client-' || :n)"])
    request = "\n".join(
        [
            f"\\set n random(1, {clients})",
            f"\\set city {city_id}",
            "BEGIN;",
            user + " \\gset u_",
            _bind(TOUCH_USER, [":u_id"]) + " \\gset t_",
            _bind(
                REFRESH_STAY,
                [str(CASCAVEL_LAT), str(CASCAVEL_LNG), "NULL", ":t_last_seen_at", ":u_id", ":city"],
            )
            + ";",
            page + ";",
            images + ";",
            "COMMIT;",
            "",
        ]
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "listing": directory / "pgbench-listing.sql",
        "request": directory / "pgbench-request.sql",
    }
    paths["listing"].write_text(listing)
    paths["request"].write_text(request)
    return paths
