"""Background jobs on procrastinate (a PostgreSQL queue).

Jobs are written into `procrastinate_jobs` inside the caller's transaction by `enqueue`,
so a job exists only if the change that asked for it committed, and a crash after the
commit loses nothing: the row is the outbox. A job whose worker dies while running it is
run again (`taskgo.jobs.recovery`), so every task must be safe to repeat. Tasks live in
each domain's `tasks.py`.
"""

from taskgo.jobs.queue import TASK_MODULES, app, configure_jobs, enqueue

__all__ = ["TASK_MODULES", "app", "configure_jobs", "enqueue"]
