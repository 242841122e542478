"""Retry the jobs that a dead worker left in 'doing'.

procrastinate marks a job 'doing' when a worker takes it and leaves it so when that worker
dies (SIGKILL, out of memory, a deploy past its grace time). Such a job would never run
again, and while it holds a `lock` no later job with that lock starts either. Every
worker stores a heartbeat in `procrastinate_workers`. Every worker (the one inside
`taskgo dev` too) also defers a periodic task, which queries procrastinate for the 'doing'
jobs whose worker has not sent a heartbeat for `STALLED_WORKER_SECONDS`. It puts them
back in the queue. A job that runs for a long time under a live worker is never touched,
because the decision rests on its worker's heartbeat, not on the job's age.

A retried job runs its task again from the start, so every task must be safe to repeat.
A job that was already tried `MAX_ATTEMPTS` times is marked failed instead, so that a job
that kills its worker each time (out of memory, say) cannot take down every worker in
turn.

NOTE: a worker whose event loop is blocked for longer than `STALLED_WORKER_SECONDS` sends
no heartbeat either, so its jobs would run a second time while the first run goes on.
The tasks run their image and OCR work in threads, and no task may block the loop that
long.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from procrastinate import exceptions
from procrastinate.jobs import Job, Status
from procrastinate.manager import JobManager

from taskgo.jobs.queue import STALLED_WORKER_SECONDS, app

log = structlog.get_logger(__name__)

RECOVERY_TASK = "jobs.retry_stalled"
# How often the check runs: a job is back in the queue at most this long after its
# worker was taken for dead.
RECOVERY_CRON = "* * * * * */30"
# Attempts after which a stalled job is marked failed instead of retried.
MAX_ATTEMPTS = 5


@dataclass
class Recovery:
    """Outcome of one check, by job id."""

    retried: list[int] = field(default_factory=list)
    # Stalled jobs closed without a rerun: an abort was requested, they reached
    # MAX_ATTEMPTS, or a job with the same queueing lock already waits in the queue.
    closed: list[int] = field(default_factory=list)


async def retry_stalled_jobs(
    job_manager: JobManager, *, stalled_after: float = STALLED_WORKER_SECONDS
) -> Recovery:
    """Put back in the queue the 'doing' jobs whose worker's heartbeat is older than
    `stalled_after` seconds (or whose worker row is gone)."""
    recovery = Recovery()
    for job in await job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        assert job.id is not None
        # The stalled-jobs query leaves out whether an abort was requested.
        current = await _reload(job_manager, job)
        if current is None or current.status != Status.DOING.value:
            continue
        if current.abort_requested:
            if await _close(job_manager, job, Status.ABORTED):
                recovery.closed.append(job.id)
                log.warning("jobs.stalled_aborted", **_describe(job))
            continue
        if job.attempts >= MAX_ATTEMPTS:
            if await _close(job_manager, job, Status.FAILED):
                recovery.closed.append(job.id)
                log.error("jobs.stalled_given_up", **_describe(job))
            continue
        try:
            await job_manager.retry_job(job)
        except exceptions.UniqueViolation:
            # A job with the same queueing lock already waits in the queue and does the
            # same work, so this one is closed and its `lock` freed for the waiting one.
            if await _close(job_manager, job, Status.FAILED):
                recovery.closed.append(job.id)
                log.warning("jobs.stalled_superseded", **_describe(job))
            continue
        except exceptions.ConnectorException:
            if await _doing(job_manager, job):
                raise
            # Another check, or the job's own worker, changed the job first.
            log.info("jobs.stalled_already_handled", job_id=job.id, task_name=job.task_name)
            continue
        recovery.retried.append(job.id)
        log.warning("jobs.stalled_retried", **_describe(job))
    return recovery


async def _close(job_manager: JobManager, job: Job, status: Status) -> bool:
    """Set the job's final status; return False when it had left 'doing' already."""
    try:
        await job_manager.finish_job(job, status=status, delete_job=False)
    except exceptions.ConnectorException:
        if await _doing(job_manager, job):
            raise
        log.info("jobs.stalled_already_handled", job_id=job.id, task_name=job.task_name)
        return False
    return True


async def _reload(job_manager: JobManager, job: Job) -> Job | None:
    rows = list(await job_manager.list_jobs_async(id=job.id))
    return rows[0] if rows else None


async def _doing(job_manager: JobManager, job: Job) -> bool:
    current = await _reload(job_manager, job)
    return current is not None and current.status == Status.DOING.value


def _describe(job: Job) -> dict[str, object]:
    return {
        "job_id": job.id,
        "task_name": job.task_name,
        "worker_id": job.worker_id,
        "attempts": job.attempts,
        "lock": job.lock,
    }


# A queueing lock keeps one check waiting at a time. There is no `lock`: a check that
# was itself left in 'doing' must not block the next one.
@app.periodic(cron=RECOVERY_CRON)
@app.task(name=RECOVERY_TASK, queue="default", queueing_lock=RECOVERY_TASK)
async def retry_stalled(timestamp: int) -> int:
    """Retry the jobs of dead workers; return how many went back to the queue."""
    recovery = await retry_stalled_jobs(app.job_manager)
    return len(recovery.retried)
