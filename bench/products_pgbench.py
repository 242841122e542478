"""pgbench scripts with the statements of the products listing (from bench/products_bare.py).

Two scripts: `listing` runs the page of products and its photos, the database work of a
page for any caller. `request` runs the whole transaction of our endpoint: the caller, the
row lock, the stay, both updates of the GPS fix, the page and the photos. Placeholders become
pgbench variables; the ids of the page's products are written in as literals, because
pgbench variables hold one row of a result, not 21. The status stays a parameter, as in our
statement (run pgbench with `-D status=active`), so the planner faces the same choice.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from bench.products_bare import (
    CURRENT_STAY,
    LOCK_USER,
    PAGE,
    TOUCH_STAY,
    TOUCH_USER,
    USER_BY_UID,
    images_statement,
)


def _bind(statement: str, values: list[str]) -> str:
    """Replace $1, $2 … (highest first, so $1 never eats the start of $12) with `values`."""
    for number in range(len(values), 0, -1):
        statement = re.sub(rf"\${number}(?!\d)", values[number - 1], statement)
    return statement


def page_ids(database_url: str, *, city_id: int, limit: int) -> list[str]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            _bind(PAGE, [str(city_id), "'active'", str(limit + 1)])
        ).fetchall()
    return [str(row[10]) for row in rows]


def write_scripts(
    directory: Path, *, database_url: str, city_id: int, limit: int, clients: int
) -> dict[str, Path]:
    ids = page_ids(database_url, city_id=city_id, limit=limit)
    page = _bind(PAGE, [":city", ":status", str(limit + 1)])
    images = _bind(images_statement(len(ids)), [f"'{value}'" for value in ids])
    listing = "\n".join([f"\\set city {city_id}", page + ";", images + ";", ""])

    user = _bind(USER_BY_UID, ["('bench-client-' || :n)"])
    request = "\n".join(
        [
            f"\\set n random(1, {clients})",
            f"\\set city {city_id}",
            "BEGIN;",
            user + " \\gset u_",
            _bind(LOCK_USER, [":u_id"]) + ";",
            _bind(CURRENT_STAY, [":u_id"]) + " \\gset s_",
            # Our endpoint sends timestamps read in Python; pgbench uses now() in their place.
            _bind(TOUCH_STAY, ["now()", "(:s_fix_count + 1)", "now()", ":s_id"]) + ";",
            _bind(TOUCH_USER, ["now()", "now()", ":u_id"]) + ";",
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
