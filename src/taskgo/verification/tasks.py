"""Background jobs of identity verification: analysis of a submission, image retention."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import procrastinate
import structlog

from taskgo.config import get_settings
from taskgo.db.session import session_scope
from taskgo.jobs import app
from taskgo.verification import retention, service

log = structlog.get_logger(__name__)

PURGE_TASK = "verification.purge_images"


@app.task(
    name=service.ANALYZE_TASK,
    queue="default",
    retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2),
)
async def analyze(submission_id: str) -> None:
    """Detect faces and read the document of one submission (idempotent)."""
    log.info("verification.analysis_started", submission_id=submission_id)
    async with session_scope() as session:
        await service.analyze_submission(session, submission_id=uuid.UUID(submission_id))


@app.periodic(cron="17 * * * *")
@app.task(name=PURGE_TASK, queue="default", lock=PURGE_TASK, queueing_lock=PURGE_TASK)
async def purge_images(timestamp: int) -> None:
    """Delete identity images past their retention period (hourly)."""
    now = datetime.fromtimestamp(timestamp, UTC)
    async with session_scope() as session:
        result = await retention.purge_images(
            session, now=now, retention_days=get_settings().verification_image_retention_days
        )
    log.info(
        "verification.purge_done",
        submissions=result.submissions,
        files=result.files,
        unattached_files=result.unattached_files,
        failures=result.failures,
    )
