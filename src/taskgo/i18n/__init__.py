"""Translated user-facing texts: gettext catalogs per domain, chosen per request."""

from taskgo.i18n.catalogs import (
    DEFAULT_LOCALE,
    SUPPORTED_LOCALES,
    Amount,
    Label,
    current_locale,
    format_amount,
    format_brl,
    format_datetime_local,
    negotiate_locale,
    normalize_locale,
    set_current_locale,
    translate,
)

__all__ = [
    "DEFAULT_LOCALE",
    "SUPPORTED_LOCALES",
    "Amount",
    "Label",
    "current_locale",
    "format_amount",
    "format_brl",
    "format_datetime_local",
    "negotiate_locale",
    "normalize_locale",
    "set_current_locale",
    "translate",
]
