"""Keyset pagination on (created_at, id), with opaque cursors."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from taskgo.errors import AppError
from taskgo.schemas import ApiModel

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1–100.")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="nextCursor of the previous page.")
]


class Page(ApiModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_raw, id_raw = orjson.loads(base64.urlsafe_b64decode(padded))
        created_at = datetime.fromisoformat(created_raw)
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        return created_at, uuid.UUID(id_raw)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise AppError("pagination.invalid_cursor", status=422, field="cursor") from None


def apply_keyset(
    query: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> Select[Any]:
    """Order by (created_at, id) and start after `cursor`; fetches limit + 1 to see a next page."""
    if cursor:
        after_created, after_id = decode_cursor(cursor)
        if newest_first:
            query = query.where(
                or_(
                    created_at < after_created, and_(created_at == after_created, row_id < after_id)
                )
            )
        else:
            query = query.where(
                or_(
                    created_at > after_created, and_(created_at == after_created, row_id > after_id)
                )
            )
    if newest_first:
        query = query.order_by(created_at.desc(), row_id.desc())
    else:
        query = query.order_by(created_at.asc(), row_id.asc())
    return query.limit(limit + 1)


def page_of(rows: list[T], *, limit: int, key: Any) -> tuple[list[T], str | None]:
    """Cut the extra row fetched by `apply_keyset` and build the next cursor from `key(row)`."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    created_at, row_id = key(rows[-1])
    return rows, encode_cursor(created_at, row_id)
