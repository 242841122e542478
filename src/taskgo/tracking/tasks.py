"""Background jobs of tracking: the periodic Correios poll."""

from __future__ import annotations

import structlog

from taskgo.jobs import app
from taskgo.tracking.polling import run_poll
from taskgo.tracking.settings import get_tracking_settings

logger = structlog.get_logger(__name__)

POLL_TASK = "tracking.poll"


# The lock keeps two runs from overlapping, so the in-process rate limiter is global.
@app.periodic(cron=get_tracking_settings().tracking_poll_cron)
@app.task(name=POLL_TASK, queue="default", lock=POLL_TASK, queueing_lock=POLL_TASK)
async def poll_correios(timestamp: int) -> None:
    """Poll SRO for every shipped, undelivered purchase (Correios provider only)."""
    settings = get_tracking_settings()
    if settings.tracking_provider != "correios":
        logger.debug("tracking.poll.disabled", provider=settings.tracking_provider)
        return
    report = await run_poll(settings)
    logger.info(
        "tracking.poll.job_done",
        timestamp=timestamp,
        failed=report.failed,
        new_events=report.new_events,
        skipped_reason=report.skipped_reason,
    )
