"""Authentication as the HTTP API applies it: headers, error bodies, user creation, modes."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.app import create_fastapi_app
from taskgo.config import Settings
from taskgo.users.models import User


async def test_missing_header_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth.missing_token"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_basic_scheme_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/me", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth.malformed_header"


async def test_expired_dev_token_message_localized(client: httpx.AsyncClient) -> None:
    from taskgo.auth.service import dev_issuer

    issuer = dev_issuer()
    assert issuer is not None
    token = issuer.issue(uid="late-user", role="client", name="Late", ttl_seconds=-120)
    pt = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    en = await client.get(
        "/api/me", headers={"Authorization": f"Bearer {token}", "Accept-Language": "en-US,en;q=0.9"}
    )
    assert pt.status_code == 401
    assert pt.json()["error"]["code"] == "auth.token_expired"
    assert pt.json()["error"]["message"] == "O token expirou. Faça login novamente."
    assert en.json()["error"]["message"] == "The token has expired. Sign in again."


async def test_first_use_creates_one_user(
    client: httpx.AsyncClient, db: AsyncSession, auth_headers: Any
) -> None:
    from taskgo.auth.service import dev_issuer

    issuer = dev_issuer()
    assert issuer is not None
    token = issuer.issue(uid="new-partner-7", role="partner", name="Bruno")
    for _ in range(2):
        response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
    count = await db.scalar(
        select(func.count()).select_from(User).where(User.firebase_uid == "new-partner-7")
    )
    assert count == 1
    assert response.json()["role"] == "partner"


async def test_token_cannot_claim_admin_outside_dev(
    client: httpx.AsyncClient, db: AsyncSession
) -> None:
    from taskgo.auth import service

    previous = service._state.dev_issuer
    issuer = previous
    assert issuer is not None
    token = issuer.issue(uid="sneaky", role="admin", name="Eve")
    service._state.dev_issuer = None  # as in firebase mode: role claims are limited
    try:
        response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    finally:
        service._state.dev_issuer = previous
    assert response.status_code == 200
    assert response.json()["role"] == "client"


def test_dev_route_absent_in_firebase_mode(settings: Settings) -> None:
    firebase_settings = settings.model_copy(update={"auth_provider": "firebase"})
    app = create_fastapi_app(firebase_settings)
    paths = set(app.openapi()["paths"])
    assert "/api/auth/dev/token" not in paths
    assert "/api/me" in paths


def test_project_id_stripped() -> None:
    assert Settings(firebase_project_id="  taskgo-prod \n").firebase_project_id == "taskgo-prod"


@pytest.mark.parametrize("bad", ["", "   ", "taskgo prod", "x" * 129])
def test_project_id_invalid_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        Settings(firebase_project_id=bad)


def test_production_refuses_dev_auth() -> None:
    with pytest.raises(ValueError):
        Settings(environment="production", auth_provider="dev")


async def test_dev_token_route_rejects_bad_uid(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/dev/token", json={"uid": "has space", "role": "client"})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "uid"


async def test_dev_token_claims_shape(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post(
        "/api/auth/dev/token", json={"uid": "demo-partner-1", "role": "partner", "name": "Bia"}
    )
    token = response.json()["token"]
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["aud"] == settings.firebase_project_id
    assert payload["iss"] == f"https://securetoken.google.com/{settings.firebase_project_id}"
    assert payload["sub"] == "demo-partner-1"
    assert payload["exp"] > time.time()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


async def test_role_required_names_roles_in_language(
    client: httpx.AsyncClient, make_user: Any, auth_headers: Any
) -> None:
    buyer = await make_user(role="client")
    pt = await client.get("/api/banks", headers=auth_headers(buyer))
    en = await client.get("/api/banks", headers=auth_headers(buyer, **{"Accept-Language": "en"}))
    assert pt.status_code == 403
    # The role was named by its English code ("partner") inside the Portuguese sentence.
    assert pt.json()["error"]["message"] == "Esta ação é permitida apenas para: parceiros."
    assert en.json()["error"]["message"] == "This action is allowed only for: partners."
    assert pt.json()["error"]["details"] == {"roles": ["partner"]}


async def test_odd_claims_create_user(client: httpx.AsyncClient, db: AsyncSession) -> None:
    from taskgo.auth.service import dev_issuer

    issuer = dev_issuer()
    assert issuer is not None
    token = jwt.encode(
        {
            **jwt.decode(
                issuer.issue(uid="odd-claims", role="client", name="x"),
                options={"verify_signature": False},
            ),
            "name": "Ana\x00\u202e Souza\n",
            "email": "a" * 400 + "@example.com",
            "phone_number": "+55\x00",
        },
        issuer._private_key,
        algorithm="RS256",
        headers={"kid": issuer.kid},
    )
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Ana Souza"
    assert body["email"] is None
    assert body["phone"] is None
