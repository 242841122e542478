"""One error shape everywhere, localized messages, and request ids."""

from __future__ import annotations

import httpx


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
