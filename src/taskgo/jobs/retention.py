"""Removal of finished jobs after a while, so that the queue tables do not grow for ever.

Every job stays in `procrastinate_jobs` with its events once it has finished, and the
periodic tasks alone add thousands of rows a day (the check of `taskgo.jobs.recovery`
runs every 30 s in every worker). Succeeded jobs are kept for a week, long enough to look
into a recent incident. Failed, cancelled and aborted jobs are kept for 30 days, because
they are the record of what went wrong.
"""

from __future__ import annotations

import structlog
from procrastinate.manager import JobManager

from taskgo.jobs.queue import app

log = structlog.get_logger(__name__)

RETENTION_TASK = "jobs.remove_finished"
SUCCEEDED_HOURS = 7 * 24
UNSUCCESSFUL_HOURS = 30 * 24


async def remove_finished_jobs(job_manager: JobManager) -> None:
    """Delete succeeded jobs older than a week and other finished ones older than 30 days."""
    await job_manager.delete_old_jobs(nb_hours=SUCCEEDED_HOURS)
    await job_manager.delete_old_jobs(
        nb_hours=UNSUCCESSFUL_HOURS,
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )


@app.periodic(cron="23 3 * * *")
@app.task(name=RETENTION_TASK, queue="default", queueing_lock=RETENTION_TASK)
async def remove_finished(timestamp: int) -> None:
    """Delete the finished jobs past their retention (daily, at 03:23)."""
    await remove_finished_jobs(app.job_manager)
    log.info("jobs.finished_removed", succeeded_hours=SUCCEEDED_HOURS)
