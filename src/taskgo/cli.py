"""The `taskgo` command: serve, worker, migrate, dev, users and data commands."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator

import click

from taskgo.config import get_settings, listening_base_url, reset_settings


@contextlib.contextmanager
def _embedded_database_lifetime() -> Iterator[None]:
    """Stop the embedded PostgreSQL when the command ends, also on SIGTERM.

    uvicorn re-raises the signal that stopped it; with Python's default SIGTERM action the
    process would die without running exit hooks and leave the embedded server running.
    """
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        from taskgo.db.embedded import stop_embedded_postgres

        stop_embedded_postgres()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _pin_database_url() -> str:
    """Resolve the database (starting the embedded one if needed) and export it for children."""
    from taskgo.db.migrate import resolve_database_url

    url = resolve_database_url(get_settings())
    os.environ["DATABASE_URL"] = url
    reset_settings()
    return url


def _pin_public_base_url(host: str, port: int) -> str:
    """Use the listening address for links to the server, unless PUBLIC_BASE_URL is set.

    A value from the environment or `.env` always wins. The derived one is exported like the
    database URL, so that server processes started by uvicorn build the same links.
    """
    settings = get_settings()
    if "public_base_url" in settings.model_fields_set:
        return settings.public_base_url
    url = listening_base_url(host, port)
    os.environ["PUBLIC_BASE_URL"] = url
    reset_settings()
    return url


@click.group()
def main() -> None:
    """TaskGo backend."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=int, help="Server processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the HTTP API and Socket.IO server with uvicorn (uvloop, httptools)."""
    import uvicorn

    with _embedded_database_lifetime():
        _pin_database_url()
        _pin_public_base_url(host, port)
        uvicorn.run(
            "taskgo.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            ws="websockets-sansio",
            log_config=None,
            proxy_headers=True,
        )


@main.command()
@click.option("--concurrency", default=4, show_default=True, type=int, help="Jobs run at once.")
@click.option(
    "--queue", "queues", multiple=True, help="Queue to serve; repeat for several (default: all)."
)
def worker(concurrency: int, queues: tuple[str, ...]) -> None:
    """Run a job worker; start several on the same database to scale out."""
    from taskgo.auth.service import configure_auth
    from taskgo.db.session import close_database, init_database, pool_options
    from taskgo.jobs.queue import configure_jobs
    from taskgo.logging import configure_logging
    from taskgo.runtime import tune_garbage_collector

    url = _pin_database_url()
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)

    async def run() -> None:
        from taskgo.db.base import import_all_models

        import_all_models()
        init_database(url, **pool_options(settings))
        configure_auth(settings)
        from taskgo.app import _domain_modules

        for module in _domain_modules("startup"):
            await module.startup(settings)
        tune_garbage_collector(settings.gc_young_threshold)
        jobs = configure_jobs(url)
        try:
            async with jobs.open_async():
                if queues:
                    await jobs.run_worker_async(concurrency=concurrency, queues=list(queues))
                else:  # every queue
                    await jobs.run_worker_async(concurrency=concurrency)
        finally:
            await close_database()

    with _embedded_database_lifetime():
        asyncio.run(run())


@main.command()
def migrate() -> None:
    """Apply every pending database migration."""
    from taskgo.db.migrate import upgrade_to_head

    with _embedded_database_lifetime():
        upgrade_to_head(_pin_database_url())
    click.echo("migrations: at head")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port.")
@click.option("--seed/--no-seed", default=True, show_default=True, help="Create demo data.")
def dev(host: str, port: int, seed: bool) -> None:
    """Embedded database, migrations, demo data, API and worker in one process."""
    with _embedded_database_lifetime():
        _run_dev(host=host, port=port, seed=seed)


def _run_dev(*, host: str, port: int, seed: bool) -> None:
    import uvicorn

    from taskgo.app import create_app
    from taskgo.db.migrate import upgrade_to_head

    url = _pin_database_url()
    _pin_public_base_url(host, port)
    click.echo("taskgo dev: applying migrations …")
    upgrade_to_head(url)
    from taskgo.modules import optional_module

    # The hints name the address this process listens on, even where PUBLIC_BASE_URL
    # names a proxy in front of it.
    base = listening_base_url(host, port)
    seed_module = optional_module("taskgo.demo.seed") if seed else None
    if seed_module is not None:
        seed_module.seed_from_cli(url, base_url=base)

    click.echo(
        "\n".join(
            [
                "",
                "TaskGo is starting:",
                f"  API             {base}/api",
                f"  API docs        {base}/docs",
                f"  OpenAPI         {base}/openapi.json",
                f"  Health          {base}/healthz   Ready {base}/readyz   Metrics {base}/metrics",
                f"  Socket.IO       {base}/socket.io",
                f"  Admin console   {base}/admin",
                f"  Dev tokens      POST {base}/api/auth/dev/token",
                f"  Database        {url}",
                "",
            ]
        )
    )
    uvicorn.run(
        create_app(run_worker=True),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        log_config=None,
    )


@main.group()
def users() -> None:
    """User administration."""


@users.command("grant-admin")
@click.argument("uid")
def grant_admin(uid: str) -> None:
    """Make the user with Firebase uid UID an admin (written to the audit log)."""
    from taskgo.db.base import import_all_models
    from taskgo.db.session import close_database, init_database, session_scope
    from taskgo.errors import AppError
    from taskgo.users.service import grant_admin as do_grant

    url = _pin_database_url()

    async def run() -> None:
        # The audit row's flush resolves every foreign key of the user (cities included).
        import_all_models()
        init_database(url)
        try:
            async with session_scope() as session:
                user = await do_grant(session, firebase_uid=uid)
                click.echo(f"user {user.id} ({uid}) is now an admin")
        finally:
            await close_database()

    try:
        asyncio.run(run())
    except AppError as exc:
        raise click.ClickException(exc.message("en")) from None


def _register_domain_commands() -> None:
    """Domains may ship `cli.py` with a click group or command named `command`."""
    from taskgo.modules import optional_module

    for domain in ("geo", "tracking", "demo"):
        module = optional_module(f"taskgo.{domain}.cli")
        if module is not None:
            main.add_command(module.command)


_register_domain_commands()
