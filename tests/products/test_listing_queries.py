"""The listing issues the same number of SQL statements whatever the page size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.products.conftest import CASCAVEL, create_product
from tests.products.test_images import png_bytes


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


async def test_statement_count_constant(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any, engine: AsyncEngine
) -> None:
    seller = await make_user(role="partner")
    buyer = await make_user(role="client")
    for index in range(55):
        product = await create_product(client, auth_headers(seller), f"Produto {index}")
        if index % 5 == 0:
            await client.post(
                f"/api/products/{product['id']}/images",
                files={"file": ("foto.png", png_bytes(), "image/png")},
                headers=auth_headers(seller),
            )
    params = {"lat": CASCAVEL[0], "lng": CASCAVEL[1]}
    # Warm-up, so the first request's one-off work does not count.
    await client.get("/api/products", params={**params, "limit": 5}, headers=auth_headers(buyer))

    counts = {}
    for limit in (10, 50):
        with count_statements(engine) as statements:
            response = await client.get(
                "/api/products", params={**params, "limit": limit}, headers=auth_headers(buyer)
            )
        assert response.status_code == 200
        assert len(response.json()["items"]) == limit
        counts[limit] = len(statements)
    assert counts[10] == counts[50], counts
