"""Console sign-in and sign-out pages."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from taskgo.admin.pages.rendering import render
from taskgo.admin.pages.session import (
    csrf_failure,
    csrf_valid,
    end_session,
    ensure_csrf_cookie,
    prepare_csrf,
    safe_next,
    start_session,
)
from taskgo.admin.service import record_audit
from taskgo.auth.service import authenticate, dev_issuer
from taskgo.db.session import DbSession
from taskgo.errors import AppError
from taskgo.users.models import Role

log = structlog.get_logger(__name__)

router = APIRouter()

DEV_ADMIN_UID = "dev-admin"


def _login_page(
    request: Request, *, next_path: str, error: str | None = None, status_code: int = 200
) -> Response:
    prepare_csrf(request)
    response = render(
        request,
        "login.html",
        {"next": next_path, "error": error, "dev_mode": dev_issuer() is not None},
        status_code=status_code,
    )
    ensure_csrf_cookie(request, response)
    return response


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_path=safe_next(next))


async def _sign_in(request: Request, session: DbSession, *, token: str, next_path: str) -> Response:
    try:
        user, verified = await authenticate(session, token)
    except AppError as exc:
        log.info("admin.sign_in_failed", reason=exc.code)
        return _login_page(
            request, next_path=next_path, error="admin.login.invalid_token", status_code=401
        )
    if user.role != Role.ADMIN:
        log.warning("admin.sign_in_not_admin", user_id=str(user.id))
        return _login_page(
            request, next_path=next_path, error="admin.login.not_admin", status_code=403
        )

    await record_audit(
        session, actor_id=user.id, action="admin.signed_in", target_type="user", target_id=user.id
    )
    response = RedirectResponse(next_path, status_code=303)
    start_session(request, response, token=token, expires_at=verified.expires_at)
    return response


@router.post("/login")
async def login(request: Request, session: DbSession) -> Response:
    """Sign in with an ID token of an admin account (Firebase, or the dev issuer)."""
    form = await request.form()
    next_path = safe_next(form.get("next"))
    if not csrf_valid(request, form):
        return csrf_failure(request)
    token = form.get("token")
    if not isinstance(token, str) or not token.strip():
        return _login_page(
            request, next_path=next_path, error="admin.login.token_missing", status_code=422
        )
    return await _sign_in(request, session, token=token.strip(), next_path=next_path)


@router.post("/login/dev")
async def login_dev(request: Request, session: DbSession) -> Response:
    """Sign in as the development admin; the route returns 404 outside dev mode."""
    issuer = dev_issuer()
    if issuer is None:
        raise AppError("request.not_found", status=404)
    form = await request.form()
    if not csrf_valid(request, form):
        return csrf_failure(request)
    name = form.get("name")
    token = issuer.issue(
        uid=DEV_ADMIN_UID,
        role=Role.ADMIN.value,
        name=name.strip() if isinstance(name, str) and name.strip() else "Admin",
    )
    return await _sign_in(request, session, token=token, next_path=safe_next(form.get("next")))


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    if not csrf_valid(request, form):
        return csrf_failure(request)
    response = RedirectResponse("/admin/login", status_code=303)
    end_session(response)
    return response
