"""The hourly poll job and the operator's demo step, run through their real entry points."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.models import AuditLog
from taskgo.jobs.queue import app, load_task_modules
from taskgo.purchases.models import PurchaseStatus
from taskgo.tracking.manual import advance_demo
from taskgo.tracking.models import TrackingEvent
from taskgo.tracking.polling import close_correios_client
from taskgo.tracking.settings import TrackingSettings
from taskgo.tracking.tasks import POLL_TASK, poll_correios
from tests.standins.correios import CorreiosStandin, StandinEvent
from tests.tracking.conftest import MakeShipped


def test_poll_registered_hourly() -> None:
    load_task_modules()

    assert POLL_TASK in app.tasks
    periodic = app.periodic_registry.periodic_tasks[(POLL_TASK, "")]
    assert periodic.cron == "0 * * * *"
    assert app.tasks[POLL_TASK].lock == POLL_TASK


@pytest.mark.usefixtures("manual_provider")
async def test_manual_provider_skips_poll(
    db: AsyncSession, correios: CorreiosStandin, make_purchase: MakeShipped
) -> None:
    await make_purchase()

    await poll_correios(timestamp=int(time.time()))

    assert correios.requests == []


async def test_job_polls_with_environment_settings(
    db: AsyncSession,
    correios: CorreiosStandin,
    correios_provider: TrackingSettings,
    make_purchase: MakeShipped,
) -> None:
    from datetime import datetime

    purchase = await make_purchase(tracking_code="RA123456785BR")
    correios.add_events(
        "RA123456785BR",
        StandinEvent("PO", "01", "Objeto postado", datetime(2026, 3, 2, 9, 15)),
    )
    try:
        await poll_correios(timestamp=int(time.time()))
    finally:
        await close_correios_client()

    events = (
        await db.scalars(select(TrackingEvent).where(TrackingEvent.purchase_id == purchase.id))
    ).all()
    assert [event.status for event in events] == ["posted"]
    assert correios.tokens_issued == 1


async def test_operator_advance_is_audited(
    db: AsyncSession, make_purchase: MakeShipped, manual_provider: Any
) -> None:
    purchase = await make_purchase()

    result = await advance_demo(db, purchase_id=purchase.id, actor=None, now=_now())

    assert result.event.status == "posted"
    assert result.event.created_by_id is None
    audit = (
        await db.scalars(select(AuditLog).where(AuditLog.action == "tracking.event_added"))
    ).one()
    assert audit.actor_id is None
    await db.refresh(purchase)
    assert purchase.status == PurchaseStatus.SHIPPED


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
