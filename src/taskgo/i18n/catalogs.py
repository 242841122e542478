"""Load the `.po` catalogs once and translate message keys.

Each domain ships `locales/<locale>/LC_MESSAGES/<domain>.po`. A message id is a stable
key such as `product.not_found`; the translation may hold `{name}` placeholders. A `Label`
or `Amount` parameter is rendered in the language of the message it fills.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog
from babel.dates import format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

log = structlog.get_logger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LOCALE = "pt_BR"
SUPPORTED_LOCALES = ("pt_BR", "en")

_current_locale: contextvars.ContextVar[str] = contextvars.ContextVar(
    "taskgo_locale", default=DEFAULT_LOCALE
)


@lru_cache
def _catalog(locale: str) -> dict[str, str]:
    messages: dict[str, str] = {}
    folder = LOCALES_DIR / locale / "LC_MESSAGES"
    for po_path in sorted(folder.glob("*.po")):
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        for message in catalog:
            if message.id and isinstance(message.id, str) and message.string:
                messages[message.id] = str(message.string)
    return messages


def normalize_locale(value: str | None) -> str | None:
    """Map a language tag (`pt-BR`, `pt`, `en-US`) to a supported locale, or None."""
    if not value:
        return None
    tag = value.strip().replace("-", "_").lower()
    if tag.startswith("pt"):
        return "pt_BR"
    if tag.startswith("en"):
        return "en"
    return None


def negotiate_locale(accept_language: str | None) -> str:
    """Pick the best supported locale from an Accept-Language header value."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        quality = 1.0
        for param in pieces[1:]:
            name, _, raw = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(raw)
                except ValueError:
                    quality = 0.0
        locale = normalize_locale(pieces[0])
        if locale and quality > 0:
            ranked.append((-quality, position, locale))
    if not ranked:
        return DEFAULT_LOCALE
    return min(ranked)[2]


def current_locale() -> str:
    return _current_locale.get()


def set_current_locale(locale: str) -> contextvars.Token[str]:
    return _current_locale.set(locale)


@dataclass(frozen=True, slots=True)
class Label:
    """A message parameter that is itself a message key, such as a status name.

    It is translated into the locale of the message it fills, so a Portuguese error does
    not show `in_progress`.
    """

    key: str


@dataclass(frozen=True, slots=True)
class Amount:
    """A message parameter in centavos, written in the number format of the message's locale.

    The catalog writes the currency before it (`R$ {maximum}`), so the same limit reads
    `R$ 1.000.000,00` in pt-BR and `R$ 1,000,000.00` in English.
    """

    centavos: int


def _fill(value: object, locale: str) -> object:
    if isinstance(value, Label):
        return translate(value.key, locale)
    if isinstance(value, Amount):
        return format_amount(value.centavos, locale)
    return value


def translate(key: str, locale: str | None = None, /, **params: object) -> str:
    """Return the text for `key` in `locale` (default: the request's), with params filled in.

    Falls back to pt-BR, then to the key itself, so a missing entry never raises.
    """
    chosen = normalize_locale(locale) or current_locale()
    template = _catalog(chosen).get(key) or _catalog(DEFAULT_LOCALE).get(key)
    if template is None:
        log.warning("i18n.missing_message", key=key, locale=chosen)
        return key
    if not params:
        return template
    filled = {name: _fill(value, chosen) for name, value in params.items()}
    try:
        return template.format(**filled)
    except (KeyError, IndexError, ValueError):
        log.warning("i18n.bad_params", key=key, locale=chosen)
        return template


def format_brl(centavos: int, locale: str | None = None) -> str:
    """Format an amount in centavos as Brazilian reais (`R$ 95,00` in pt-BR)."""
    chosen = normalize_locale(locale) or current_locale()
    amount = Decimal(centavos).scaleb(-2)
    babel_locale = "pt_BR" if chosen == "pt_BR" else "en_US"
    # Babel puts a no-break space between symbol and amount in pt-BR; apps expect a plain one.
    return format_currency(amount, "BRL", locale=babel_locale).replace("\xa0", " ")


def format_amount(centavos: int, locale: str | None = None) -> str:
    """Format centavos as a number with two decimals, without the currency (`1.999,90`)."""
    chosen = normalize_locale(locale) or current_locale()
    babel_locale = "pt_BR" if chosen == "pt_BR" else "en_US"
    return format_decimal(Decimal(centavos).scaleb(-2), format="#,##0.00", locale=babel_locale)


def format_datetime_local(moment: datetime, *, timezone: str, locale: str | None = None) -> str:
    """Render a UTC instant in a city's time zone for a user-facing text."""
    chosen = normalize_locale(locale) or current_locale()
    local = moment.astimezone(ZoneInfo(timezone))
    return format_datetime(local, format="short", locale="pt_BR" if chosen == "pt_BR" else "en")
