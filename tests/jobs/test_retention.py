"""Finished jobs are deleted after their retention, and recent or unfinished ones stay."""

from __future__ import annotations

from procrastinate.manager import JobManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from taskgo.jobs.retention import remove_finished_jobs
from tests.jobs.conftest import add_job

TASK = "service_orders.expire_open_orders"


async def _finished(engine: AsyncEngine, *, status: str, days_ago: float, timestamp: int) -> int:
    """A job that reached `status` `days_ago` days ago."""
    job_id = await add_job(TASK, timestamp=timestamp)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE procrastinate_jobs SET status = :status WHERE id = :id"),
            {"status": status, "id": job_id},
        )
        await connection.execute(
            text(
                "UPDATE procrastinate_events SET at = now() - make_interval(days => :days) "
                "WHERE job_id = :id"
            ),
            {"days": days_ago, "id": job_id},
        )
    return job_id


async def _remaining(engine: AsyncEngine) -> set[int]:
    async with engine.connect() as connection:
        rows = await connection.scalars(text("SELECT id FROM procrastinate_jobs"))
        return set(rows)


async def test_old_finished_jobs_removed(queue_db: AsyncEngine, job_manager: JobManager) -> None:
    old_success = await _finished(queue_db, status="succeeded", days_ago=8, timestamp=1)
    recent_success = await _finished(queue_db, status="succeeded", days_ago=6, timestamp=2)
    month_failure = await _finished(queue_db, status="failed", days_ago=20, timestamp=3)
    old_failure = await _finished(queue_db, status="failed", days_ago=31, timestamp=4)
    old_abort = await _finished(queue_db, status="aborted", days_ago=31, timestamp=5)
    waiting = await _finished(queue_db, status="todo", days_ago=60, timestamp=6)

    await remove_finished_jobs(job_manager)

    remaining = await _remaining(queue_db)
    assert old_success not in remaining
    assert old_failure not in remaining
    assert old_abort not in remaining
    assert {recent_success, month_failure, waiting} <= remaining
