"""Notification jobs: the push sender, fed by `notify` through the job table (the outbox)."""

from __future__ import annotations

import uuid

import procrastinate
import structlog

from taskgo.jobs import app
from taskgo.notifications.delivery import deliver_pushes

log = structlog.get_logger(__name__)


# The sender retries each message itself. The queue retries the whole run only when it
# fails outside a message (database down), and a rerun skips the delivered pairs.
@app.task(
    name="notifications.send_push",
    queue="default",
    retry=procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2),
)
async def send_push(notification_ids: list[str]) -> None:
    ids = [uuid.UUID(value) for value in notification_ids]
    log.info("push.job_started", notifications=len(ids))
    await deliver_pushes(ids)
