"""Locale of a socket and localized texts for socket errors."""

from typing import Any

from taskgo.i18n import negotiate_locale, normalize_locale, translate


def locale_from_environ(environ: dict[str, Any], auth: object) -> str:
    """Pick the socket's locale: ``auth.locale`` first, then the handshake's Accept-Language.

    Only pt-BR (the default) and English have catalogs.
    """
    requested = auth.get("locale") if isinstance(auth, dict) else None
    if isinstance(requested, str):
        chosen = normalize_locale(requested)
        if chosen is not None:
            return chosen
    return negotiate_locale(environ.get("HTTP_ACCEPT_LANGUAGE"))


def translate_code(code: str, locale: str, **params: Any) -> str:
    return translate(code, locale, **params)


def error_ack(code: str, locale: str, *, field: str | None = None, **params: Any) -> dict[str, Any]:
    """Build the ack body for a failed client event: ``{error: {code, message, field?}}``."""
    error: dict[str, Any] = {"code": code, "message": translate(code, locale, **params)}
    if field is not None:
        error["field"] = field
    if params:
        error["details"] = params
    return {"error": error}
