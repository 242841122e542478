"""Keyset pagination on (created_at, id), with opaque cursors."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from sqlalchemy import ColumnElement, Select, and_, bindparam, or_
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
        decoded = orjson.loads(base64.urlsafe_b64decode(padded))
        if not (
            isinstance(decoded, list)
            and len(decoded) == 2
            and all(isinstance(part, str) for part in decoded)
        ):
            raise ValueError("not a pair of strings")
        created_at = datetime.fromisoformat(decoded[0])
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        # An offset can push a timestamp near year 1 out of range once PostgreSQL converts
        # it to UTC, so the conversion is done here, where it raises OverflowError.
        return created_at.astimezone(UTC), uuid.UUID(decoded[1])
    except (ValueError, TypeError, OverflowError, orjson.JSONDecodeError):
        raise AppError("pagination.invalid_cursor", status=422, field="cursor") from None


def _after(
    created_at: InstrumentedAttribute[datetime] | ColumnElement[datetime],
    row_id: InstrumentedAttribute[uuid.UUID] | ColumnElement[uuid.UUID],
    after_created: Any,
    after_id: Any,
    *,
    newest_first: bool,
) -> ColumnElement[bool]:
    """Rows after (after_created, after_id) in the order of the page: values or bind params."""
    if newest_first:
        return or_(created_at < after_created, and_(created_at == after_created, row_id < after_id))
    return or_(created_at > after_created, and_(created_at == after_created, row_id > after_id))


def _ordered(
    query: Select[Any],
    created_at: InstrumentedAttribute[datetime] | ColumnElement[datetime],
    row_id: InstrumentedAttribute[uuid.UUID] | ColumnElement[uuid.UUID],
    *,
    newest_first: bool,
) -> Select[Any]:
    if newest_first:
        return query.order_by(created_at.desc(), row_id.desc())
    return query.order_by(created_at.asc(), row_id.asc())


def apply_keyset(
    query: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime] | ColumnElement[datetime],
    row_id: InstrumentedAttribute[uuid.UUID] | ColumnElement[uuid.UUID],
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> Select[Any]:
    """Order by (created_at, id) and start after `cursor`; fetches limit + 1 to see a next page."""
    if cursor:
        after_created, after_id = decode_cursor(cursor)
        query = query.where(
            _after(created_at, row_id, after_created, after_id, newest_first=newest_first)
        )
    return _ordered(query, created_at, row_id, newest_first=newest_first).limit(limit + 1)


def keyset_template(
    query: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime] | ColumnElement[datetime],
    row_id: InstrumentedAttribute[uuid.UUID] | ColumnElement[uuid.UUID],
    with_cursor: bool,
    newest_first: bool = True,
) -> Select[Any]:
    """Apply `apply_keyset` with bind parameters in place of the values.

    Build the statement once and run it many times, so SQLAlchemy reuses its cache key.
    `keyset_params` gives the values.
    """
    if with_cursor:
        query = query.where(
            _after(
                created_at,
                row_id,
                bindparam("after_created_at"),
                bindparam("after_id"),
                newest_first=newest_first,
            )
        )
    return _ordered(query, created_at, row_id, newest_first=newest_first).limit(
        bindparam("fetch_rows")
    )


def keyset_params(cursor: str | None, limit: int) -> dict[str, Any]:
    """Return the values of a `keyset_template` statement built with_cursor=bool(cursor)."""
    params: dict[str, Any] = {"fetch_rows": limit + 1}
    if cursor:
        params["after_created_at"], params["after_id"] = decode_cursor(cursor)
    return params


def page_of(rows: list[T], *, limit: int, key: Any) -> tuple[list[T], str | None]:
    """Cut the extra row fetched by `apply_keyset` and build the next cursor from `key(row)`."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    created_at, row_id = key(rows[-1])
    return rows, encode_cursor(created_at, row_id)
