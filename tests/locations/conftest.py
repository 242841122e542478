"""Helpers shared by the location tests."""

from __future__ import annotations

from typing import Any

import httpx

CASCAVEL = (-24.9555, -53.4552)
FOZ = (-25.5478, -54.5882)
CURITIBA = (-25.4284, -49.2733)
CASCAVEL_ID = 4104808
FOZ_ID = 4108304
CURITIBA_ID = 4106902


async def post_fix(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    at: tuple[float, float],
    accuracy: float | None = 15.0,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {"lat": at[0], "lng": at[1], **extra}
    if accuracy is not None:
        body["accuracy"] = accuracy
    return await client.post("/api/locations/update", json=body, headers=headers)
