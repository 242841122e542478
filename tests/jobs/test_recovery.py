"""Jobs left in 'doing' by a dead worker are retried; a live worker's jobs are left alone."""

from __future__ import annotations

from procrastinate.manager import JobManager
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.app import _run_worker
from taskgo.config import Settings
from taskgo.jobs.queue import STALLED_WORKER_SECONDS, configure_jobs
from taskgo.jobs.recovery import MAX_ATTEMPTS, Recovery, retry_stalled_jobs
from tests.jobs.conftest import add_job, add_worker, job_state, running, wait_for_status

DEAD = STALLED_WORKER_SECONDS + 15
# A periodic task with nothing to do on an empty database, for jobs that must really run.
HARMLESS_TASK = "service_orders.expire_open_orders"
POLL = "tracking.poll"


async def test_dead_worker_job_rerun(queue_db: AsyncEngine, database_url: str) -> None:
    dead = await add_worker(queue_db, heartbeat_age=DEAD)
    alive = await add_worker(queue_db, heartbeat_age=0)
    stalled = await add_job(HARMLESS_TASK, worker_id=dead, timestamp=0)
    # A long job whose worker still sends heartbeats.
    busy = await add_job(HARMLESS_TASK, worker_id=alive, timestamp=1)

    jobs = configure_jobs(database_url)
    async with jobs.open_async():
        async with running(jobs.run_worker_async(concurrency=4)) as worker:
            await wait_for_status(queue_db, stalled, "succeeded", worker=worker)

    assert await job_state(queue_db, stalled) == ("succeeded", 2)
    assert await job_state(queue_db, busy) == ("doing", 0)


async def test_dead_lock_holder_released(queue_db: AsyncEngine, settings: Settings) -> None:
    dead = await add_worker(queue_db, heartbeat_age=DEAD)
    stalled = await add_job(POLL, worker_id=dead, lock=POLL, queueing_lock=POLL, timestamp=0)
    waiting = await add_job(POLL, lock=POLL, queueing_lock=POLL, timestamp=60)

    # The worker that `taskgo dev` runs inside the API process.
    async with running(_run_worker(settings)) as worker:
        await wait_for_status(queue_db, waiting, "succeeded", worker=worker)

    # The waiting poll does the same work, so the dead one is closed instead of rerun.
    assert (await job_state(queue_db, stalled))[0] == "failed"


async def test_stale_heartbeat_retried(queue_db: AsyncEngine, job_manager: JobManager) -> None:
    # The dead worker's row is still there: no worker started since, so none pruned it.
    dead = await add_worker(queue_db, heartbeat_age=DEAD)
    late = await add_worker(queue_db, heartbeat_age=STALLED_WORKER_SECONDS - 10)
    stalled = await add_job(POLL, worker_id=dead, lock=POLL, queueing_lock=POLL, timestamp=0)
    busy = await add_job(HARMLESS_TASK, worker_id=late, timestamp=0)

    recovery = await retry_stalled_jobs(job_manager)

    assert recovery.retried == [stalled]
    assert recovery.closed == []
    assert await job_state(queue_db, stalled) == ("todo", 1)
    assert await job_state(queue_db, busy) == ("doing", 0)
    assert await retry_stalled_jobs(job_manager) == Recovery()


async def test_repeated_crash_given_up(queue_db: AsyncEngine, job_manager: JobManager) -> None:
    dead = await add_worker(queue_db, heartbeat_age=DEAD)
    stalled = await add_job(HARMLESS_TASK, worker_id=dead, attempts=MAX_ATTEMPTS, timestamp=0)

    recovery = await retry_stalled_jobs(job_manager)

    assert recovery.closed == [stalled]
    assert await job_state(queue_db, stalled) == ("failed", MAX_ATTEMPTS + 1)


async def test_aborted_job_not_rerun(queue_db: AsyncEngine, job_manager: JobManager) -> None:
    dead = await add_worker(queue_db, heartbeat_age=DEAD)
    stalled = await add_job(HARMLESS_TASK, worker_id=dead, abort_requested=True, timestamp=0)

    recovery = await retry_stalled_jobs(job_manager)

    assert recovery.closed == [stalled]
    assert (await job_state(queue_db, stalled))[0] == "aborted"
