"""Idempotency-Key handling for retry-safe writes.

The first request with a key stores its response in the same transaction as its effects.
A retry with the same key and body gets that response again; the same key with another
body is a 422. Two concurrent requests with one key serialise on the unique index: the
second waits for the first to commit, then replays its response.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy import DateTime, ForeignKey, Integer, String, func, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base
from taskgo.errors import AppError

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe key; the same key and body replay the first result.",
    ),
]


@dataclass
class IdempotencyClaim:
    record: IdempotencyRecord | None
    replay: JSONResponse | None


def request_fingerprint(payload: Any) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def claim(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    scope: str,
    key: str | None,
    payload: Any,
) -> IdempotencyClaim:
    """Reserve `key` for this request, or return the stored response of an earlier one."""
    if key is None:
        return IdempotencyClaim(record=None, replay=None)
    if not _KEY.match(key):
        raise AppError("request.idempotency_key_invalid", status=422, field="Idempotency-Key")

    fingerprint = request_fingerprint(payload)
    inserted = await session.execute(
        insert(IdempotencyRecord)
        .values(user_id=user_id, scope=scope, key=key, request_hash=fingerprint)
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    )
    if inserted.scalar_one_or_none() is not None:
        record = await session.get(IdempotencyRecord, (user_id, scope, key))
        return IdempotencyClaim(record=record, replay=None)

    existing = await session.scalar(
        select(IdempotencyRecord)
        .where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
        )
        .execution_options(populate_existing=True)
    )
    if existing is None or existing.status_code is None:
        raise AppError("request.idempotency_in_progress", status=409)
    if existing.request_hash != fingerprint:
        raise AppError("request.idempotency_key_reused", status=422, field="Idempotency-Key")
    return IdempotencyClaim(
        record=None,
        replay=JSONResponse(
            existing.response_body,
            status_code=existing.status_code,
            headers={"Idempotent-Replayed": "true"},
        ),
    )


async def remember(
    session: AsyncSession, claimed: IdempotencyClaim, *, status_code: int, body: Any
) -> None:
    """Store the response for replays; a no-op when the request carried no key."""
    if claimed.record is None:
        return
    claimed.record.status_code = status_code
    claimed.record.response_body = body
    await session.flush()
