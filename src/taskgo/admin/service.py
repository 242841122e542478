"""Audit log writes and reads."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.models import AuditLog

log = structlog.get_logger(__name__)


async def record_audit(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    target_type: str,
    target_id: str | uuid.UUID | int,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit entry in the caller's transaction, so it commits or rolls back with the change.

    `details` must not hold document numbers, account numbers or PIX keys in clear text.
    """
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    entry = AuditLog(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details or {},
        request_id=request_id,
    )
    session.add(entry)
    await session.flush()
    log.info("audit.recorded", action=action, target_type=target_type, target_id=str(target_id))
    return entry


async def list_audit_entries(
    session: AsyncSession, *, before_id: int | None = None, limit: int = 50
) -> list[AuditLog]:
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditLog.id < before_id)
    return list((await session.scalars(query)).all())
