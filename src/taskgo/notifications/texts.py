"""Render notification texts in each supported language from catalog keys and parameters.

Parameters are usually plain values. Two wrappers let one call address users with
different languages: `Money` is formatted per language with Babel (`R$ 95,00` in pt-BR,
`R$95.00` in English), and `Localized` carries one text per language, such as a service
category's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from taskgo.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, format_brl, translate


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in centavos, formatted in each reader's language."""

    centavos: int


@dataclass(frozen=True, slots=True)
class Localized:
    """A text given per locale; locales without an entry get the pt-BR text."""

    texts: Mapping[str, str] = field(default_factory=dict)

    def in_locale(self, locale: str) -> str:
        return self.texts.get(locale) or self.texts.get(DEFAULT_LOCALE) or ""


@dataclass(frozen=True, slots=True)
class RenderedText:
    title: str
    body: str


def format_param(value: object, locale: str) -> object:
    if isinstance(value, Money):
        return format_brl(value.centavos, locale)
    if isinstance(value, Localized):
        return value.in_locale(locale)
    return value


def render(key: str, locale: str, params: Mapping[str, object] | None = None) -> str:
    values = {name: format_param(value, locale) for name, value in (params or {}).items()}
    return translate(key, locale, **values)


def render_all(
    *, title_key: str, body_key: str, params: Mapping[str, object] | None = None
) -> dict[str, RenderedText]:
    """Title and body in every supported locale, keyed by locale."""
    return {
        locale: RenderedText(
            title=render(title_key, locale, params), body=render(body_key, locale, params)
        )
        for locale in SUPPORTED_LOCALES
    }
