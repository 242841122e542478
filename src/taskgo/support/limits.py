"""Per-user limits of the assistant: one turn at a time, a message rate and a token budget.

The counts come from `support_messages` in the same transaction as the turn, under a
per-user transaction advisory lock, so two concurrent requests of one user cannot both
pass a limit that only one of them fits in.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import Settings
from taskgo.errors import AppError
from taskgo.support.models import MessageRole, SupportMessage

log = structlog.get_logger(__name__)

# The daily budget follows the Brazilian calendar day, which is what users see.
BUDGET_TIMEZONE = ZoneInfo("America/Sao_Paulo")
# Distinguishes this domain's advisory locks from other users of pg_advisory_xact_lock.
_LOCK_NAMESPACE = 0x5350_5254  # "SPRT"


def _lock_key(user_id: uuid.UUID) -> int:
    # Fold the 128-bit id into a signed 64-bit key; a rare collision only makes two users
    # wait for each other's turn.
    high = int.from_bytes(user_id.bytes[:8], "big")
    low = int.from_bytes(user_id.bytes[8:], "big")
    folded = (high ^ low ^ _LOCK_NAMESPACE) & 0xFFFF_FFFF_FFFF_FFFF
    return folded - (1 << 64) if folded >= 1 << 63 else folded


async def lock_user_turn(session: AsyncSession, *, user_id: uuid.UUID) -> None:
    """Take the user's turn lock until the transaction ends, or raise 409 if it is taken."""
    acquired = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _lock_key(user_id)}
    )
    if not acquired:
        raise AppError("support.reply_in_progress", status=409)


def budget_day_start(now: datetime) -> datetime:
    local = now.astimezone(BUDGET_TIMEZONE)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC)


async def check_rate_limit(
    session: AsyncSession, *, user_id: uuid.UUID, settings: Settings, now: datetime
) -> None:
    window = timedelta(seconds=settings.support_rate_limit_window_seconds)
    since = now - window
    row = (
        await session.execute(
            select(func.count(), func.min(SupportMessage.created_at)).where(
                SupportMessage.user_id == user_id,
                SupportMessage.role == MessageRole.USER,
                SupportMessage.created_at > since,
            )
        )
    ).one()
    count, oldest = int(row[0]), row[1]
    if count < settings.support_rate_limit_messages:
        return

    # The window frees a slot when its oldest message leaves it.
    wait = (oldest + window - now).total_seconds() if oldest is not None else window.seconds
    seconds = max(1, math.ceil(wait))
    log.info("support.rate_limited", user_id=str(user_id), retry_after_seconds=seconds)
    raise AppError(
        "support.rate_limited",
        status=429,
        details={"retryAfterSeconds": seconds},
        seconds=seconds,
    )


async def tokens_spent_today(session: AsyncSession, *, user_id: uuid.UUID, now: datetime) -> int:
    total = await session.scalar(
        select(
            func.coalesce(
                func.sum(SupportMessage.prompt_tokens + SupportMessage.completion_tokens), 0
            )
        ).where(
            SupportMessage.user_id == user_id,
            SupportMessage.created_at >= budget_day_start(now),
        )
    )
    return int(total or 0)


async def check_daily_budget(
    session: AsyncSession, *, user_id: uuid.UUID, settings: Settings, now: datetime
) -> int:
    """Raise 429 when the user spent the day's tokens; return the tokens spent so far."""
    spent = await tokens_spent_today(session, user_id=user_id, now=now)
    if spent >= settings.support_daily_token_budget:
        log.info("support.daily_budget_exhausted", user_id=str(user_id), tokens=spent)
        resets_at = budget_day_start(now) + timedelta(days=1)
        raise AppError(
            "support.daily_budget_exhausted",
            status=429,
            details={"resetsAt": resets_at.isoformat()},
        )
    return spent
