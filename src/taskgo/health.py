"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from taskgo.db.migrate import current_revision, head_revision
from taskgo.db.session import Database
from taskgo.errors import error_body
from taskgo.i18n import translate

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz() -> JSONResponse:
    """200 when the database answers and its schema is at the latest migration."""
    engine = Database.engine
    if engine is None:
        return JSONResponse(
            error_body("ready.database_unavailable", translate("ready.database_unavailable")),
            status_code=503,
        )
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        revision = await current_revision(engine)
    except Exception:  # any driver or network failure means "not ready"
        return JSONResponse(
            error_body("ready.database_unavailable", translate("ready.database_unavailable")),
            status_code=503,
        )
    head = head_revision()
    if revision != head:
        return JSONResponse(
            error_body(
                "ready.migrations_pending",
                translate("ready.migrations_pending"),
                {"current": revision, "head": head},
            ),
            status_code=503,
        )
    return JSONResponse({"status": "ready", "revision": revision})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
