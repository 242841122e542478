"""Jinja2 rendering for the admin console, with the request's language and Brasília time."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from taskgo.i18n import current_locale, format_datetime_local, translate

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
# Admins work from Brazil; times on the console are shown in Brasília time.
CONSOLE_TIMEZONE = "America/Sao_Paulo"

_SECURITY_HEADERS = {
    # Pages load nothing from elsewhere: images come from /admin/uploads, styles are inline.
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _format_datetime(value: datetime | None) -> str:
    if value is None:
        return "—"
    return format_datetime_local(value, timezone=CONSOLE_TIMEZONE)


def _format_date(value: date | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%d/%m/%Y") if current_locale() == "pt_BR" else value.isoformat()


def format_cpf(digits: str | None) -> str:
    if not digits:
        return "—"
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def _translate(key: str, **params: Any) -> str:
    return translate(key, None, **params)


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.globals["t"] = _translate
_environment.filters["datetime"] = _format_datetime
_environment.filters["date"] = _format_date
_environment.filters["cpf"] = format_cpf


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a template with the request, the language and the CSRF token in context."""
    values = {
        "request": request,
        "lang": "pt-BR" if current_locale() == "pt_BR" else "en",
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "admin": getattr(request.state, "admin_user", None),
        **(context or {}),
    }
    html = _environment.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=_SECURITY_HEADERS)
