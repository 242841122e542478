"""One error shape everywhere, localized messages, and request ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Form
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from taskgo.app import create_fastapi_app
from taskgo.config import Settings
from taskgo.errors import AppError, describe_validation_errors
from tests.conftest import MakeUser


async def test_unknown_route_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "request.not_found", "message": "Recurso não encontrado.", "details": {}}
    }


async def test_validation_error_names_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/dev/token", json={"role": "client"}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation.missing"
    assert error["details"]["field"] == "uid"
    assert error["message"] == "The field uid is required."


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("pt-BR", "O corpo da requisição é obrigatório: envie um objeto JSON."),
        ("en", "The request body is required: send a JSON object."),
    ],
)
async def test_missing_body_message(client: httpx.AsyncClient, language: str, message: str) -> None:
    response = await client.post("/api/auth/dev/token", headers={"Accept-Language": language})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation.body_missing"
    assert error["message"] == message
    assert error["details"]["field"] == ""


async def test_invalid_json_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/dev/token", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation.json_invalid"


async def test_wrong_literal_lists_choices(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/dev/token", json={"uid": "x1", "role": "god"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation.literal_error"
    assert error["details"]["field"] == "role"
    assert "'client'" in error["message"]


async def test_method_not_allowed_shape(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/me")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "request.method_not_allowed"


async def test_request_id_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


async def test_request_id_generated_when_invalid(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    generated = response.headers["x-request-id"]
    assert generated != "bad id with spaces"
    assert len(generated) == 32


async def test_metrics_count_routes(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'taskgo_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text
    assert "taskgo_http_request_duration_seconds_bucket" in response.text


async def test_invalid_json_has_no_field(client: httpx.AsyncClient) -> None:
    # The location of a JSON syntax error is a character offset, not a field name.
    response = await client.post(
        "/api/auth/dev/token", content=b'{"uid": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == ""


async def test_path_parameter_field_camel_case(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Callable[..., dict[str, str]]
) -> None:
    user = await make_user()
    response = await client.get("/api/purchases/not-a-uuid", headers=auth_headers(user))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation.uuid_parsing"
    assert error["details"]["field"] == "purchaseId"


async def test_literal_choices_in_portuguese(client: httpx.AsyncClient) -> None:
    pt = await client.post("/api/auth/dev/token", json={"uid": "x1", "role": "god"})
    en = await client.post(
        "/api/auth/dev/token",
        json={"uid": "x1", "role": "god"},
        headers={"Accept-Language": "en"},
    )
    assert pt.json()["error"]["message"].endswith("'partner' ou 'admin'.")
    assert en.json()["error"]["message"].endswith("'partner' or 'admin'.")


def _app_with_failing_routes(settings: Settings) -> FastAPI:
    app = create_fastapi_app(settings)

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    @app.get("/test/pool-exhausted")
    async def pool_exhausted() -> None:
        raise PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached")

    @app.get("/test/driver-connection-lost")
    async def driver_connection_lost() -> None:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")

    return app


async def test_unhandled_error_keeps_request_id(settings: Settings) -> None:
    transport = httpx.ASGITransport(
        app=_app_with_failing_routes(settings), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/test/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal.error"
    assert response.headers["x-request-id"] == "req-500"


async def test_pool_exhaustion_is_503(settings: Settings) -> None:
    transport = httpx.ASGITransport(app=_app_with_failing_routes(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/test/pool-exhausted", headers={"Accept-Language": "en"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    error = response.json()["error"]
    assert error["code"] == "request.server_busy"
    assert error["message"] == "The server is overloaded right now. Try again in a few seconds."


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("body", "body"), "body"),
        (("body", "items", 0, "productId"), "items.0.productId"),
        (("query", "limit"), "limit"),
        (("path", "purchase_id"), "purchaseId"),
        (("body",), ""),
    ],
)
def test_field_path_strips_only_source(loc: tuple[str | int, ...], field: str) -> None:
    # A chat message's `body` field is a field, not the request body.
    described = describe_validation_errors([{"loc": loc, "type": "missing"}])
    assert described[0]["field"] == field


def test_openapi_documents_error_body(settings: Settings) -> None:
    schema = create_fastapi_app(settings).openapi()
    # FastAPI's default 422 body ({"detail": [...]}) is not what the API returns.
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("401", "403", "404", "422"):
                assert status in responses, f"{method} {path} lacks {status}"
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    body = response["content"]["application/json"]["schema"]
                    assert body == error_ref, f"{method} {path} {status}"


async def test_method_not_allowed_lists_every_method(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Callable[..., dict[str, str]]
) -> None:
    partner = await make_user(role="partner")
    response = await client.put("/api/bank-accounts", headers=auth_headers(partner))
    assert response.status_code == 405
    # Only the first matching route's method (GET) used to be listed.
    assert response.headers["allow"] == "GET, POST"


def test_openapi_metrics_plain_text(settings: Settings) -> None:
    schema = create_fastapi_app(settings).openapi()
    assert schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"] == {"text/plain": {}}


@pytest.mark.parametrize(
    ("details", "header"),
    [
        ({"retryAfterSeconds": 59}, "59"),
        ({"retryAfterMs": 429}, "1"),
        ({"retryAfterMs": 2500}, "3"),
        ({}, None),
    ],
)
async def test_rate_limit_retry_after_header(
    settings: Settings, details: dict[str, int], header: str | None
) -> None:
    app = create_fastapi_app(settings)

    @app.get("/test/limited")
    async def limited() -> None:
        raise AppError("request.rate_limited", status=429, details=details)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/test/limited")
    assert response.status_code == 429
    assert response.headers.get("retry-after") == header


async def test_lone_surrogate_has_message(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/dev/token",
        content=b'{"uid": "x1", "name": "Ana \\ud800"}',
        headers={"Content-Type": "application/json", "Accept-Language": "en"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation.string_unicode"
    # The catalogs had no entry, so the message fell back to a generic one.
    assert error["message"].startswith("The field name contains invalid Unicode text")


async def test_lost_database_connections_answer_503_once_then_recover(
    live_client: httpx.AsyncClient,
    make_live_user: MakeUser,
    auth_headers: Callable[..., dict[str, str]],
    database_url: str,
) -> None:
    user = await make_live_user()
    headers = {**auth_headers(user), "Accept-Language": "en"}
    assert (await live_client.get("/api/me", headers=headers)).status_code == 200

    # What a database restart does to the pool: every idle connection is closed by the server.
    killer = await asyncpg.connect(database_url)
    try:
        killed = await killer.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS terminated"
        )
    finally:
        await killer.close()
    assert killed >= 1

    lost = await live_client.get("/api/me", headers=headers)
    assert lost.status_code == 503
    assert lost.headers["retry-after"] == "1"
    assert lost.json()["error"] == {
        "code": "request.database_unavailable",
        "message": "The database connection was lost. Try again in a moment.",
        "details": {},
    }
    # The failure invalidated the whole pool: the retry runs on a new connection.
    assert (await live_client.get("/api/me", headers=headers)).status_code == 200


async def test_lost_driver_connection_is_503(settings: Settings) -> None:
    transport = httpx.ASGITransport(app=_app_with_failing_routes(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/test/driver-connection-lost")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "request.database_unavailable"
    assert response.json()["error"]["message"] == (
        "A conexão com o banco de dados caiu. Tente novamente em instantes."
    )


def test_nested_object_error_names_field() -> None:
    errors = [
        {"loc": ("body", "items", 0), "type": "model_attributes_type"},
        {"loc": ("body",), "type": "model_attributes_type"},
    ]

    nested, body = describe_validation_errors(errors)

    assert nested["code"] == "validation.model_type"
    assert nested["field"] == "items.0"
    assert nested["message"] == "O campo items.0 deve ser um objeto JSON."
    assert body["code"] == "validation.model_attributes_type"
    assert body["message"] == "O corpo da requisição deve ser um objeto JSON."


# Bodies that json.loads() rejects with an error other than a JSON syntax error, for which
# FastAPI returned a bare 400 `request.bad_request`.
_UNDECODABLE_BODIES = {
    "not-utf8": (b'{"uid": "\xff\xfe"}', "application/json"),
    "latin1-charset": ('{"uid": "é"}'.encode("latin-1"), "application/json; charset=iso-8859-1"),
    "huge-integer": (b'{"uid": ' + b"1" * 5000 + b"}", "application/json"),
    "deep-nesting": (b'{"uid": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),
    "truncated": (b'{"uid": [', "application/json"),
}


@pytest.mark.parametrize("body_name", list(_UNDECODABLE_BODIES))
@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("pt-BR", "O corpo da requisição não é um JSON válido."),
        ("en", "The request body is not valid JSON."),
    ],
)
async def test_undecodable_json_is_json_invalid(
    client: httpx.AsyncClient, body_name: str, language: str, message: str
) -> None:
    body, content_type = _UNDECODABLE_BODIES[body_name]
    response = await client.post(
        "/api/auth/dev/token",
        content=body,
        headers={"Content-Type": content_type, "Accept-Language": language},
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation.json_invalid"
    assert error["message"] == message
    # The body as a whole is at fault, as for a syntax error: no field is named.
    assert error["details"]["field"] == ""
    assert error["details"]["errors"] == [
        {"field": "", "code": "validation.json_invalid", "message": message}
    ]


async def test_broken_form_stays_bad_request(settings: Settings) -> None:
    # Only bodies that FastAPI parses as JSON become json_invalid.
    app = create_fastapi_app(settings)

    @app.post("/test/form")
    async def form(name: Annotated[str, Form()]) -> None:
        return None

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post(
            "/test/form",
            content=b"name=Ana",
            headers={"Content-Type": "multipart/form-data"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request.bad_request"


class _Limits(BaseModel):
    # Limits placed after a validator in the Annotated are checked by pydantic's generic
    # length check, which cannot tell text from a list and speaks of items.
    short_text: Annotated[str, AfterValidator(str.upper), Field(min_length=2)] = "ok"
    code: Annotated[str, BeforeValidator(str), Field(max_length=3)] = "001"
    tags: Annotated[list[int], AfterValidator(sorted), Field(max_length=2)] = []
    codes: list[int] = Field(default=[], max_length=1)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"short_text": "a"},
            "validation.string_too_short",
            "O campo short_text deve ter pelo menos 2 caractere(s).",
        ),
        (
            {"code": 12345},
            "validation.string_too_long",
            "O campo code deve ter no máximo 3 caracteres.",
        ),
        # A list checked the generic way, and one checked by its own type, stay lists.
        ({"tags": [3, 2, 1]}, "validation.too_long", "O campo tags deve ter no máximo 2 itens."),
        ({"codes": [1, 2]}, "validation.too_long", "O campo codes deve ter no máximo 1 itens."),
    ],
)
def test_length_unit_follows_value(body: dict[str, Any], code: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Limits.model_validate(body)

    [described] = describe_validation_errors(caught.value.errors())

    assert described["code"] == code
    assert described["message"] == message
