"""The admin console: server-rendered pages under /admin, signed in with an admin's ID token."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from taskgo.admin.pages import audit, auth, verifications

router = APIRouter(prefix="/admin", include_in_schema=False)
router.include_router(auth.router)
router.include_router(verifications.router)
router.include_router(audit.router)


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/admin/verifications", status_code=303)
