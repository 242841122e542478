"""Locale of a socket and localized texts for socket errors."""

from typing import Any

DEFAULT_LOCALE = "pt_BR"


def locale_from_environ(environ: dict[str, Any], auth: object) -> str:
    """Pick the socket's locale: ``auth.locale`` first, then the handshake's Accept-Language.

    Only pt-BR (default) and English have catalogs.
    """
    requested = auth.get("locale") if isinstance(auth, dict) else None
    if not isinstance(requested, str) or not requested:
        requested = environ.get("HTTP_ACCEPT_LANGUAGE", "")
    return negotiate_locale(requested)


def negotiate_locale(header: str) -> str:
    for part in header.split(","):
        tag = part.split(";", 1)[0].strip().lower().replace("_", "-")
        if tag.startswith("pt"):
            return "pt_BR"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


def translate_code(code: str, locale: str, **params: Any) -> str:
    from taskgo.i18n import translate

    return translate(code, locale=locale, **params)
