"""Helpers shared by the product tests."""

from __future__ import annotations

from typing import Any

import httpx

CASCAVEL = (-24.9555, -53.4552)
FOZ = (-25.5478, -54.5882)
CASCAVEL_ID = 4104808
FOZ_ID = 4108304


def product_body(
    title: str, /, *, at: tuple[float, float] = CASCAVEL, **fields: Any
) -> dict[str, Any]:
    lat, lng = at
    body: dict[str, Any] = {
        "title": title,
        "description": "Produto de teste",
        "price": "19.99",
        "category": "artesanato",
        "stock": 3,
        "lat": lat,
        "lng": lng,
    }
    body.update(fields)
    return body


async def create_product(
    client: httpx.AsyncClient, headers: dict[str, str], title: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/products", json=product_body(title, **fields), headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()
