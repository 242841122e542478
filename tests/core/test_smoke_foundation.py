"""A first pass over the foundation: the app starts, health answers, auth works."""

from __future__ import annotations

import httpx


async def test_healthz_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"


async def test_me_with_dev_token(client: httpx.AsyncClient) -> None:
    issued = await client.post(
        "/api/auth/dev/token", json={"uid": "demo-client-1", "role": "client", "name": "Ana"}
    )
    assert issued.status_code == 200, issued.text
    token = issued.json()["token"]
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["role"] == "client"
    assert body["name"] == "Ana"
    assert body["verificationStatus"] == "unverified"
    assert body["currentCity"] is None
