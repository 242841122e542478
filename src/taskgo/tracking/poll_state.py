"""Reads and updates of the poller's single state row (failure streak, pause, alert)."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.tracking.models import TrackingPollState

logger = structlog.get_logger(__name__)

# The first failed run pauses 30 minutes, each further one doubles the pause.
_FIRST_PAUSE = timedelta(minutes=30)


async def load(session: AsyncSession, *, for_update: bool = False) -> TrackingPollState:
    """Return the state row, creating it on first use."""
    await session.execute(insert(TrackingPollState).values(id=1).on_conflict_do_nothing())
    query = select(TrackingPollState).where(TrackingPollState.id == 1)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).one()


def record_success(state: TrackingPollState, *, now: datetime) -> None:
    if state.alerted_at is not None:
        logger.info("tracking.poll.recovered", failures=state.consecutive_failures)
    state.consecutive_failures = 0
    state.paused_until = None
    state.alerted_at = None
    state.last_success_at = now


def record_failure(
    state: TrackingPollState, *, now: datetime, error: str, max_pause: timedelta
) -> None:
    state.consecutive_failures += 1
    state.last_failure_at = now
    state.last_error = error
    pause = min(max_pause, _FIRST_PAUSE * 2 ** (state.consecutive_failures - 1))
    state.paused_until = now + pause
