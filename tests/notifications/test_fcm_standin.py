"""The FCM stand-in enforces the protocol, so sender tests against it can fail."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from taskgo.notifications.client import AccessTokenSource
from tests.standins.fcm import FcmStandin, make_device_token


@pytest.fixture
async def http(fcm_standin: FcmStandin) -> AsyncIterator[httpx.AsyncClient]:
    context = ssl.create_default_context(cafile=fcm_standin.ca_file)
    async with httpx.AsyncClient(http2=True, verify=context, timeout=5) as client:
        yield client


@pytest.fixture
async def access_token(fcm_standin: FcmStandin) -> str:
    source = AccessTokenSource(fcm_standin.service_account_info(), ca_file=fcm_standin.ca_file)
    try:
        return await source.token()
    finally:
        source.close()


def send_url(standin: FcmStandin, project: str | None = None) -> str:
    return f"{standin.base_url}/v1/projects/{project or standin.project_id}/messages:send"


def violations(response: httpx.Response) -> list[str | None]:
    details = response.json()["error"].get("details", [])
    return [
        violation.get("field")
        for detail in details
        if detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
        for violation in detail["fieldViolations"]
    ]


async def post_message(
    http: httpx.AsyncClient, standin: FcmStandin, token: str, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(
        send_url(standin), json=body, headers={"Authorization": f"Bearer {token}"}
    )


async def test_missing_bearer_is_401(fcm_standin: FcmStandin, http: httpx.AsyncClient) -> None:
    message = {"message": {"token": make_device_token()}}
    response = await http.post(send_url(fcm_standin), json=message)

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_bearer_is_401(fcm_standin: FcmStandin, http: httpx.AsyncClient) -> None:
    message = {"message": {"token": make_device_token()}}
    response = await post_message(http, fcm_standin, "ya29.made-up", message)

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_other_project_is_403(
    fcm_standin: FcmStandin, http: httpx.AsyncClient, access_token: str
) -> None:
    response = await http.post(
        send_url(fcm_standin, "someone-else"),
        json={"message": {"token": make_device_token()}},
        headers={"Authorization": f"Bearer {access_token}"},
    )

    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"token": "TOKEN", "colour": "red"}, "message"),
        (
            {"token": "TOKEN", "notification": {"title": "a", "subtitle": "b"}},
            "message.notification",
        ),
        ({"token": "TOKEN", "data": {"ok": "yes", "count": 12}}, "message.data[1].value"),
        ({"token": "TOKEN", "data": {"google.sent_time": "1"}}, "message.data"),
        ({"token": "TOKEN", "android": {"priority": "urgent"}}, "message.android.priority"),
        ({"token": "TOKEN", "android": {"ttl": "ten minutes"}}, "message.android.ttl"),
        ({"notification": {"title": "no target"}}, "message"),
        ({"token": "TOKEN", "topic": "news"}, "message"),
        ({"token": "TOKEN", "data": {"blob": "x" * 5000}}, "message"),
        ({"token": "short"}, "message.token"),
    ],
)
async def test_rejects_bad_message(
    fcm_standin: FcmStandin,
    http: httpx.AsyncClient,
    access_token: str,
    message: dict[str, Any],
    field: str,
) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    if message.get("token") == "TOKEN":
        message = {**message, "token": token}

    response = await post_message(http, fcm_standin, access_token, {"message": message})

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert violations(response) == [field]
    assert fcm_standin.deliveries == []


async def test_accepts_camel_case_fields(
    fcm_standin: FcmStandin, http: httpx.AsyncClient, access_token: str
) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    message = {"token": token, "android": {"collapseKey": "a", "priority": "high", "ttl": "3.5s"}}

    response = await post_message(http, fcm_standin, access_token, {"message": message})

    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    assert len(fcm_standin.deliveries) == 1


async def test_validate_only_delivers_nothing(
    fcm_standin: FcmStandin, http: httpx.AsyncClient, access_token: str
) -> None:
    token = make_device_token()
    fcm_standin.register(token)
    body = {"message": {"token": token}, "validate_only": True}

    response = await post_message(http, fcm_standin, access_token, body)

    assert response.status_code == 200
    assert response.json() == {"name": "projects/taskgo-test/messages/fake_message_id"}
    assert fcm_standin.deliveries == []


async def test_token_endpoint_checks_grant(
    fcm_standin: FcmStandin, http: httpx.AsyncClient
) -> None:
    wrong_grant = await http.post(
        fcm_standin.token_uri, data={"grant_type": "client_credentials", "assertion": "x"}
    )
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "unsupported_grant_type"

    other = FcmStandin(project_id="taskgo-test")
    foreign = other.oauth.service_account_info(token_uri=fcm_standin.token_uri)
    now = int(time.time())
    claims = {
        "iss": foreign["client_email"],
        "aud": "https://oauth2.googleapis.com/token",
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
        "iat": now,
        "exp": now + 3600,
    }
    assertion = jwt.encode(
        claims,
        foreign["private_key"],
        algorithm="RS256",
        headers={"kid": foreign["private_key_id"]},
    )
    forged = await http.post(
        fcm_standin.token_uri,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )
    assert forged.status_code == 400
    assert forged.json()["error"] == "invalid_grant"


async def test_scope_is_enforced(fcm_standin: FcmStandin, http: httpx.AsyncClient) -> None:
    info = fcm_standin.service_account_info()
    now = int(time.time())
    claims = {
        "iss": info["client_email"],
        "aud": "https://oauth2.googleapis.com/token",
        "scope": "https://www.googleapis.com/auth/devstorage.read_only",
        "iat": now,
        "exp": now + 3600,
    }
    assertion = jwt.encode(
        claims, info["private_key"], algorithm="RS256", headers={"kid": info["private_key_id"]}
    )
    granted = await http.post(
        fcm_standin.token_uri,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )
    assert granted.status_code == 200

    token = make_device_token()
    fcm_standin.register(token)
    response = await post_message(
        http, fcm_standin, granted.json()["access_token"], {"message": {"token": token}}
    )
    assert response.status_code == 403


async def test_stats_over_http1(fcm_standin: FcmStandin) -> None:
    context = ssl.create_default_context(cafile=fcm_standin.ca_file)
    async with httpx.AsyncClient(verify=context, timeout=5) as client:
        response = await client.get(f"{fcm_standin.base_url}/_standin/stats?since=0")

    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1"
    assert response.json()["deliveries"] == 0
