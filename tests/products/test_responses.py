"""Product responses are written without pydantic models; they must still match the schema."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest

from taskgo.products.schemas import ProductOut, ProductPage
from tests.products.conftest import CASCAVEL, create_product
from tests.products.test_images import png_bytes, upload


def assert_matches(model: type[ProductOut] | type[ProductPage], body: Any) -> None:
    schema = model.model_json_schema(mode="serialization", by_alias=True)
    jsonschema.validate(body, schema)
    # The schema lists the properties; nothing may be missing or extra.
    assert set(body) == set(schema["properties"])


async def test_every_product_response_matches_the_schema(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    seller = await make_user(role="partner", verification_status="verified")
    buyer = await make_user(role="client")
    headers = auth_headers(seller)

    created = await create_product(client, headers, "Luminária de mesa", price="80.10")
    assert_matches(ProductOut, created)
    uploaded = await upload(client, created["id"], headers, png_bytes())
    assert uploaded.status_code == 201
    with_image = uploaded.json()
    assert_matches(ProductOut, with_image)
    assert set(with_image["images"][0]) == {"id", "url", "width", "height", "position"}

    fetched = (await client.get(f"/api/products/{created['id']}", headers=headers)).json()
    patched = await client.patch(
        f"/api/products/{created['id']}", json={"stock": 9}, headers=headers
    )
    assert patched.status_code == 200
    assert_matches(ProductOut, fetched)
    assert_matches(ProductOut, patched.json())

    lat, lng = CASCAVEL
    listing = await client.get(
        "/api/products", params={"lat": lat, "lng": lng}, headers=auth_headers(buyer)
    )
    mine = await client.get("/api/partners/me/products", headers=headers)
    for page in (listing.json(), mine.json()):
        assert_matches(ProductPage, page)
        for item in page["items"]:
            assert_matches(ProductOut, item)
    # The single-product route and the listing write the same JSON for one product.
    [listed] = listing.json()["items"]
    assert listed == {**fetched, "stock": 9, "updatedAt": listed["updatedAt"]}
    assert listed["price"] == "80.10"
    assert listed["createdAt"].endswith("Z")
    assert listing.json()["city"]["id"] == 4104808
    assert mine.json()["city"] is None


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_create_alias_answers_405_to_other_methods(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any, method: str
) -> None:
    seller = await make_user(role="partner")
    response = await client.request(method, "/api/products/create", headers=auth_headers(seller))
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "request.method_not_allowed"
