"""Console sign-in: a verified ID token kept in an HttpOnly cookie, plus CSRF protection.

The cookie contains the same Firebase ID token (or dev token) the API accepts as a bearer
token, and every page verifies it again, so the console session ends when the token
expires (one hour for Firebase ID tokens) and role changes take effect at once.
Forms carry a CSRF token that must equal a second cookie (double submit), and POSTs from
another origin are rejected. Both cookies are SameSite=Strict and scoped to /admin.
"""

from __future__ import annotations

import hmac
import secrets
import time
from urllib.parse import quote, urlsplit

import structlog
from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from taskgo.admin.pages.rendering import render
from taskgo.auth.service import authenticate
from taskgo.errors import AppError
from taskgo.users.models import Role, User

log = structlog.get_logger(__name__)

SESSION_COOKIE = "taskgo_admin_session"
CSRF_COOKIE = "taskgo_admin_csrf"
COOKIE_PATH = "/admin"
HOME = "/admin/verifications"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def ensure_csrf_cookie(request: Request, response: Response) -> str:
    """Return the request's CSRF token, creating the cookie when there is none."""
    token = request.cookies.get(CSRF_COOKIE)
    if token:
        return token
    token = getattr(request.state, "csrf_token", "") or secrets.token_urlsafe(32)
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=COOKIE_PATH,
    )
    return token


def prepare_csrf(request: Request) -> str:
    """Put a CSRF token in the request state for the templates (new one if no cookie)."""
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    request.state.csrf_token = token
    return token


def csrf_valid(request: Request, form: FormData) -> bool:
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.url.netloc:
        return False
    sent = form.get("csrf_token")
    expected = request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def csrf_failure(request: Request) -> Response:
    log.warning("admin.csrf_rejected", path=request.url.path)
    return render(
        request,
        "error.html",
        {"title": "admin.error.csrf_title", "message": "admin.error.csrf"},
        status_code=403,
    )


def safe_next(value: object) -> str:
    """Return a console path to go to after sign-in; anything else becomes the home page."""
    if isinstance(value, str) and value.startswith("/admin/") and not value.startswith("//"):
        return value
    return HOME


def redirect_to_login(request: Request) -> RedirectResponse:
    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return RedirectResponse(f"/admin/login?next={target}", status_code=303)


async def page_admin(request: Request, session: AsyncSession) -> User | Response:
    """Return the signed-in admin, or the response to send instead (sign-in redirect, 403)."""
    prepare_csrf(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return redirect_to_login(request)
    try:
        user, _ = await authenticate(session, token)
    except AppError as exc:
        log.info("admin.session_invalid", reason=exc.code)
        return redirect_to_login(request)
    if user.role != Role.ADMIN:
        log.warning("admin.forbidden", user_id=str(user.id), path=request.url.path)
        return render(
            request,
            "error.html",
            {"title": "admin.error.forbidden_title", "message": "admin.error.forbidden"},
            status_code=403,
        )
    request.state.admin_user = user
    return user


def start_session(request: Request, response: Response, *, token: str, expires_at: int) -> None:
    max_age = max(0, expires_at - int(time.time()))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=COOKIE_PATH,
    )
    ensure_csrf_cookie(request, response)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    response.delete_cookie(CSRF_COOKIE, path=COOKIE_PATH)
