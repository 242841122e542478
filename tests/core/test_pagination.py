"""Opaque keyset cursors: a round trip, and a 422 for every edited cursor."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest

from taskgo.errors import AppError
from taskgo.pagination import decode_cursor, encode_cursor
from tests.conftest import MakeUser

Headers = Callable[[Any], dict[str, str]]


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def test_cursor_round_trip() -> None:
    created_at = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=UTC)
    row_id = uuid.uuid4()

    assert decode_cursor(encode_cursor(created_at, row_id)) == (created_at, row_id)


def test_cursor_offset_becomes_utc() -> None:
    local = datetime(2026, 12, 4, 22, 0, tzinfo=timezone(timedelta(hours=-3)))
    row_id = uuid.uuid4()

    created_at, _ = decode_cursor(cursor_of([local.isoformat(), str(row_id)]))

    assert created_at == local
    assert created_at.tzinfo == UTC


@pytest.mark.parametrize(
    "value",
    [
        ["2026-01-01T00:00:00+00:00", 5],
        ["2026-01-01T00:00:00+00:00", None],
        [5, str(uuid.UUID(int=1))],
        ["0001-01-01T00:00:00+14:00", str(uuid.UUID(int=1))],
        ["9999-12-31T23:59:59-14:00", str(uuid.UUID(int=1))],
        ["2026-01-01T00:00:00", str(uuid.UUID(int=1))],
        ["2026-01-01T00:00:00+00:00"],
        {"created": "2026-01-01T00:00:00+00:00", "id": str(uuid.UUID(int=1))},
        "ab",
        7,
    ],
)
def test_edited_cursor_is_rejected(value: Any) -> None:
    with pytest.raises(AppError) as raised:
        decode_cursor(cursor_of(value))

    assert raised.value.code == "pagination.invalid_cursor"
    assert raised.value.field == "cursor"


async def test_edited_cursor_over_http(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    headers = auth_headers(await make_user())
    edited = (
        ["2026-01-01T00:00:00+00:00", 5],
        ["0001-01-01T00:00:00+14:00", str(uuid.UUID(int=1))],
    )
    for value in edited:
        response = await client.get(
            "/api/locations/history", params={"cursor": cursor_of(value)}, headers=headers
        )

        assert response.status_code == 422
        assert response.json()["error"]["code"] == "pagination.invalid_cursor"
