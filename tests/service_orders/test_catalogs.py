"""The pt-BR and English catalogs of service orders and notifications agree."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import taskgo.i18n

LOCALES = Path(taskgo.i18n.__file__).parent / "locales"


def messages(locale: str, domain: str) -> dict[str, str]:
    with (LOCALES / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {str(message.id): str(message.string) for message in catalog if message.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("domain", ["service_orders", "notifications"])
def test_same_keys_and_placeholders(domain: str) -> None:
    portuguese = messages("pt_BR", domain)
    english = messages("en", domain)

    assert portuguese.keys() == english.keys()
    for key, text in portuguese.items():
        assert text, key
        assert english[key], key
        assert placeholders(text) == placeholders(english[key]), key


def test_every_push_kind_has_texts() -> None:
    keys = messages("pt_BR", "service_orders")
    kinds = ("accepted", "started", "completed", "cancelled", "expired")

    for kind in kinds:
        assert f"push.order_{kind}.title" in keys
        assert f"push.order_{kind}.body" in keys


def test_every_status_has_a_label() -> None:
    from taskgo.service_orders.models import OrderStatus

    for locale in ("pt_BR", "en"):
        keys = messages(locale, "service_orders")
        for status in OrderStatus:
            assert keys.get(f"service_order.status.{status.value}"), (locale, status)
