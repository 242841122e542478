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
# Runs of the analysis job for one submission. Images that cannot be analysed fail on the
# first run (see service.analyze_submission). Only outages (storage, database) are
# retried, and the last run that still fails hands the submission to manual review.
ANALYZE_MAX_ATTEMPTS = 5


@app.task(
    name=service.ANALYZE_TASK,
    queue="default",
    retry=procrastinate.RetryStrategy(max_attempts=ANALYZE_MAX_ATTEMPTS, exponential_wait=2),
)
async def analyze(submission_id: str) -> None:
    """Detect faces and read the document of one submission (idempotent).

    One run keeps a worker thread busy for about 35 s at most (analysis.OCR_BUDGET_SECONDS).
    The attempt is counted on the submission in its own transaction, so the count stays
    when the analysis fails, and the job needs no procrastinate context to know it.
    """
    key = uuid.UUID(submission_id)
    async with session_scope() as session:
        attempt = await service.count_analysis_attempt(session, submission_id=key)
    if attempt == 0:
        return
    log.info("verification.analysis_started", submission_id=submission_id, attempt=attempt)
    try:
        async with session_scope() as session:
            await service.analyze_submission(session, submission_id=key)
    except Exception:
        if attempt < ANALYZE_MAX_ATTEMPTS:
            raise
        log.exception("verification.analysis_given_up", submission_id=submission_id)
        async with session_scope() as session:
            await service.give_up_analysis(session, submission_id=key)


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
