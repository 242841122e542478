"""GET /api/cities/resolve through the HTTP API."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from taskgo.users.models import User
from tests.conftest import MakeUser

Headers = Callable[..., dict[str, str]]


async def resolve(client: httpx.AsyncClient, headers: dict[str, str], query: str) -> httpx.Response:
    return await client.get(f"/api/cities/resolve?{query}", headers=headers)


async def test_cascavel_and_foz(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user: User = await make_user()
    headers = auth_headers(user)

    cascavel = await resolve(client, headers, "lat=-24.9555&lng=-53.4552")
    foz = await resolve(client, headers, "lat=-25.5478&lng=-54.5882")

    assert cascavel.status_code == 200, cascavel.text
    assert cascavel.json()["id"] == 4104808
    assert cascavel.json()["name"] == "Cascavel"
    assert cascavel.json()["uf"] == "PR"
    assert cascavel.json()["stateName"] == "Paraná"
    assert cascavel.json()["timezone"] == "America/Sao_Paulo"
    assert cascavel.json()["distanceKm"] < 1
    assert foz.status_code == 200, foz.text
    assert foz.json()["id"] == 4108304
    assert foz.json()["name"] == "Foz do Iguaçu"


async def test_outside_coverage(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    headers = auth_headers(await make_user())

    for query in (
        "lat=-26.0&lng=-40.0",  # Atlantic Ocean
        "lat=-25.2637&lng=-57.5759",  # Asunción, Paraguay
        "lat=-53.4552&lng=-24.9555",  # Cascavel, latitude and longitude swapped
        "lat=24.9555&lng=53.4552",  # Cascavel, signs dropped
    ):
        response = await resolve(client, headers, query)
        assert response.status_code == 422, query
        assert response.json()["error"]["code"] == "location.outside_coverage", query
        assert "50 km" in response.json()["error"]["message"]


async def test_outside_coverage_in_english(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    headers = auth_headers(await make_user(), **{"Accept-Language": "en"})

    response = await resolve(client, headers, "lat=-26.0&lng=-40.0")

    assert response.json()["error"]["message"].startswith("No Brazilian municipality")


async def test_decimal_comma_says_use_a_dot(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    user = await make_user()

    pt = await resolve(client, auth_headers(user), "lat=-24,9555&lng=-53.4552")
    en = await resolve(
        client, auth_headers(user, **{"Accept-Language": "en"}), "lat=-24.9555&lng=-53,4552"
    )

    assert pt.status_code == 422
    assert pt.json()["error"]["code"] == "location.decimal_comma"
    assert pt.json()["error"]["details"]["field"] == "lat"
    assert "ponto" in pt.json()["error"]["message"]
    assert en.json()["error"]["code"] == "location.decimal_comma"
    assert en.json()["error"]["details"]["field"] == "lng"
    assert "dot" in en.json()["error"]["message"]


async def test_bad_numbers_are_422_not_500(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    headers = auth_headers(await make_user())
    cases = {
        "lat=nan&lng=-53.4": "location.invalid_number",
        "lat=inf&lng=-53.4": "location.invalid_number",
        "lat=1e1&lng=-53.4": "location.invalid_number",
        "lat=abc&lng=-53.4": "location.invalid_number",
        "lat=-95&lng=-53.4": "location.latitude_out_of_range",
        "lat=-24.9&lng=-190": "location.longitude_out_of_range",
        "lng=-53.4": "validation.missing",
    }

    for query, code in cases.items():
        response = await resolve(client, headers, query)
        assert response.status_code == 422, query
        assert response.json()["error"]["code"] == code, query


async def test_requires_authentication(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/cities/resolve?lat=-24.9555&lng=-53.4552")

    assert response.status_code == 401
