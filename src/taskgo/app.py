"""ASGI application factory: FastAPI routers, Socket.IO and the start-up sequence."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from fastapi import FastAPI

from taskgo.auth.service import configure_auth
from taskgo.config import Settings, get_settings
from taskgo.db.base import import_all_models
from taskgo.db.migrate import resolve_database_url
from taskgo.db.session import Database, close_database, init_database, pool_options
from taskgo.errors import ERROR_RESPONSES, install_error_handlers
from taskgo.health import router as health_router
from taskgo.jobs.queue import configure_jobs, load_task_modules
from taskgo.logging import configure_logging
from taskgo.middleware import RequestContextMiddleware
from taskgo.modules import optional_module
from taskgo.runtime import tune_garbage_collector

log = structlog.get_logger(__name__)

# Every domain package; each may have `router.py` (HTTP routes) and `startup.py`
# (`async def startup(settings)` / `async def shutdown()`), picked up when present.
DOMAINS = [
    "auth",
    "users",
    "geo",
    "locations",
    "products",
    "service_orders",
    "notifications",
    "chat",
    "purchases",
    "payments",
    "tracking",
    "support",
    "uploads",
    "verification",
    "bank_accounts",
    "admin",
    "realtime",
]


def _domain_modules(suffix: str) -> list[Any]:
    modules = []
    for domain in DOMAINS:
        module = optional_module(f"taskgo.{domain}.{suffix}")
        if module is not None:
            modules.append(module)
    return modules


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    owns_database = Database.engine is None
    if owns_database:
        init_database(resolve_database_url(settings), **pool_options(settings))
    configure_auth(settings)
    for module in _domain_modules("startup"):
        await module.startup(settings)
    tune_garbage_collector(settings.gc_young_threshold)

    worker: asyncio.Task[None] | None = None
    if app.state.run_worker:
        worker = asyncio.create_task(_run_worker(settings), name="taskgo-worker")
    log.info("app.started", environment=settings.environment, auth=settings.auth_provider)
    try:
        yield
    finally:
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        for module in reversed(_domain_modules("startup")):
            if hasattr(module, "shutdown"):
                await module.shutdown()
        if owns_database:
            await close_database()
        log.info("app.stopped")


async def _run_worker(settings: Settings) -> None:
    """Run the job worker inside the API process (`taskgo dev`)."""
    jobs = configure_jobs(resolve_database_url(settings))
    async with jobs.open_async():
        await jobs.run_worker_async(install_signal_handlers=False)


def create_fastapi_app(settings: Settings | None = None, *, run_worker: bool = False) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    # Every table must be known before the first flush, or a foreign key to a domain that
    # no imported module mentions (cities, for example) cannot be resolved.
    import_all_models()
    load_task_modules()

    app = FastAPI(
        title="TaskGo API",
        version="1.0.0",
        lifespan=_lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.run_worker = run_worker
    install_error_handlers(app)
    app.include_router(health_router)
    for module in _domain_modules("router"):
        if module.__name__ == "taskgo.auth.router" and not settings.dev_mode:
            continue  # the dev token route exists only with AUTH_PROVIDER=dev
        for name in ("router", "public_router", "admin_router"):
            router = getattr(module, name, None)
            if router is not None:
                app.include_router(router)
    app.add_middleware(RequestContextMiddleware)
    _document_error_bodies(app)
    return app


def _document_error_bodies(app: FastAPI) -> None:
    """Give every documented 4xx/5xx response the error body schema.

    Routes that describe a status themselves (`responses={409: {"description": ...}}`)
    replace the app-wide entry for it, schema included, so the schema is put back here.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        error_content = {
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
        }
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status_code, response in operation.get("responses", {}).items():
                    if status_code[:1] in ("4", "5") and "content" not in response:
                        response["content"] = error_content
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, *, run_worker: bool = False) -> Any:
    """The full ASGI app: FastAPI behind the Socket.IO server when the realtime layer exists."""
    fastapi_app = create_fastapi_app(settings, run_worker=run_worker)
    realtime = optional_module("taskgo.realtime.server")
    if realtime is None:
        return fastapi_app
    support_socket = optional_module("taskgo.support.socket")
    if support_socket is not None:
        support_socket.register_socket_handlers(realtime.sio)
    return realtime.create_asgi_app(fastapi_app)
