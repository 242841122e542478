"""`taskgo tracking …`: run a Correios poll now, or advance a demo shipment."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import click


@click.group(name="tracking")
def command() -> None:
    """Shipment tracking."""


@command.command("poll")
def poll() -> None:
    """Poll Correios once for every shipped, undelivered purchase (TRACKING_PROVIDER=correios)."""
    from taskgo.cli import _pin_database_url
    from taskgo.db.session import close_database, init_database
    from taskgo.tracking.polling import close_correios_client, run_poll
    from taskgo.tracking.settings import get_tracking_settings

    settings = get_tracking_settings()
    if settings.tracking_provider != "correios":
        raise click.ClickException("set TRACKING_PROVIDER=correios and the CORREIOS_* credentials")
    url = _pin_database_url()

    async def run() -> None:
        init_database(url)
        try:
            report = await run_poll(settings)
        finally:
            await close_correios_client()
            await close_database()
        click.echo(
            f"shipments: {report.shipments}, batches: {report.batches_done}, "
            f"requests: {report.requests}, new events: {report.new_events}, "
            f"failed: {report.failed}, skipped: {report.skipped_reason or 'no'}"
        )
        if report.errors:
            click.echo(f"last error: {report.errors[-1]}", err=True)

    asyncio.run(run())


@command.command("advance")
@click.argument("purchase_id", type=click.UUID)
def advance(purchase_id: uuid.UUID) -> None:
    """Move the shipment of PURCHASE_ID to its next step (posted … delivered), as an admin."""
    from taskgo.cli import _pin_database_url
    from taskgo.db.session import close_database, init_database, session_scope
    from taskgo.errors import AppError
    from taskgo.tracking.manual import advance_demo

    url = _pin_database_url()

    async def run() -> str:
        init_database(url)
        try:
            async with session_scope() as session:
                result = await advance_demo(
                    session, purchase_id=purchase_id, actor=None, now=datetime.now(UTC)
                )
                return result.event.status
        finally:
            await close_database()

    try:
        status = asyncio.run(run())
    except AppError as exc:
        raise click.ClickException(exc.message("en")) from None
    click.echo(f"purchase {purchase_id}: {status}")
