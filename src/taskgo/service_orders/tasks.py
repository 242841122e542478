"""Service order jobs: dispatch to partners, the city summary and the expiry sweep."""

from __future__ import annotations

import uuid

import procrastinate
import structlog

from taskgo.db.session import session_scope
from taskgo.jobs import app
from taskgo.service_orders.dispatch import announce_city_orders as announce
from taskgo.service_orders.dispatch import dispatch_order as dispatch
from taskgo.service_orders.lifecycle import expire_due_orders

log = structlog.get_logger(__name__)

_RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2)

# Bounds one sweep; the next periodic run continues where this one stopped.
_MAX_EXPIRY_BATCHES = 50


@app.task(name="service_orders.dispatch_order", queue="default", retry=_RETRY)
async def dispatch_order(service_order_id: str) -> None:
    async with session_scope() as session:
        await dispatch(session, uuid.UUID(service_order_id))


@app.task(name="service_orders.announce_city_orders", queue="default", retry=_RETRY)
async def announce_city_orders(partner_id: str, city_id: int) -> None:
    """Queued by the locations domain when a partner's current city changes."""
    async with session_scope() as session:
        await announce(session, partner_id=uuid.UUID(str(partner_id)), city_id=int(city_id))


@app.periodic(cron="*/10 * * * *")
@app.task(name="service_orders.expire_open_orders", queue="default", retry=_RETRY)
async def expire_open_orders(timestamp: int) -> None:
    """Expire open orders whose `expires_at` has passed, one transaction per batch."""
    total = 0
    for _ in range(_MAX_EXPIRY_BATCHES):
        async with session_scope() as session:
            expired = await expire_due_orders(session)
        total += len(expired)
        if not expired:
            break
    log.info("service_order.expiry_sweep", expired=total, timestamp=timestamp)
