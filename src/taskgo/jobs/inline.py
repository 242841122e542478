"""Run queued jobs in-process, in the caller's database transaction.

Tests use it to execute the real task functions on the rows `enqueue` wrote, without a
worker process and without committing, so each test can still roll back.
"""

from __future__ import annotations

import inspect

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs.queue import app, load_task_modules

_TODO = text(
    "SELECT id, task_name, args FROM procrastinate_jobs "
    "WHERE status = 'todo' "
    "AND (scheduled_at IS NULL OR scheduled_at <= now() OR :include_scheduled) "
    "ORDER BY id"
)


async def run_queued_jobs(
    session: AsyncSession,
    *,
    task_names: set[str] | None = None,
    include_scheduled: bool = False,
    max_rounds: int = 10,
) -> list[str]:
    """Execute queued jobs (and the jobs they queue) until none is left; return task names run."""
    load_task_modules()
    ran: list[str] = []
    for _ in range(max_rounds):
        rows = (await session.execute(_TODO, {"include_scheduled": include_scheduled})).all()
        rows = [row for row in rows if task_names is None or row.task_name in task_names]
        if not rows:
            break
        for row in rows:
            await session.execute(
                text("DELETE FROM procrastinate_jobs WHERE id = :id"), {"id": row.id}
            )
            task = app.tasks[row.task_name]
            result = task.func(**row.args)
            if inspect.isawaitable(result):
                await result
            ran.append(row.task_name)
    return ran
