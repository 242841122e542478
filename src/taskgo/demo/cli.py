"""`taskgo demo`: play every drawn flow against a running server."""

from __future__ import annotations

import asyncio

import click

from taskgo.config import get_settings


@click.command("demo")
@click.option(
    "--base-url",
    default=None,
    help="Address of a running TaskGo server in dev mode. Default: PUBLIC_BASE_URL "
    "(http://127.0.0.1:8000, where `make run` listens).",
)
def command(base_url: str | None) -> None:
    """Play every drawn flow over HTTP and Socket.IO, as the client and partner apps do.

    The server must run with AUTH_PROVIDER=dev and the local payment provider, and its
    job worker must be running (`make run` starts both).
    """
    from taskgo.demo.scenario import run_scenario
    from taskgo.demo.transport import DemoError

    target = base_url or get_settings().public_base_url
    click.echo(f"TaskGo demo against {target}")
    try:
        asyncio.run(run_scenario(target, output=click.echo))
    except DemoError as error:
        raise click.ClickException(f"demo stopped: {error}") from None
