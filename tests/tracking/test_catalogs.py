"""Both tracking catalogs carry every message the tracking code can show."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from taskgo.tracking.statuses import TrackingStatus

LOCALES = Path(__file__).parents[2] / "src" / "taskgo" / "i18n" / "locales"
FIXED_KEYS = {
    "tracking.invalid_code",
    "tracking.not_shipped",
    "tracking.shipment_finished",
    "tracking.delivery_confirmed",
    "tracking.manual_events_disabled",
    "tracking.forbidden",
    "tracking.event_in_future",
    "tracking.event_too_old",
    "tracking.event_time_without_offset",
    "tracking.no_next_step",
    "push.tracking_update.body",
    "push.tracking_update.body_with_location",
    "push.tracking_update.status",
    "push.tracking_update.status_with_location",
    "push.tracking_not_found.title",
    "push.tracking_not_found.body",
    "admin.tracking_poll_failing.title",
    "admin.tracking_poll_failing.body",
    "admin.tracking_returned.title",
    "admin.tracking_returned.body",
}
STATUS_KEYS = {f"tracking.status.{status.value}" for status in TrackingStatus} | {
    f"push.tracking.{status.value}.title" for status in TrackingStatus
}


def _catalog(locale: str) -> dict[str, str]:
    with (LOCALES / locale / "LC_MESSAGES" / "tracking.po").open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {str(message.id): str(message.string) for message in catalog if message.id}


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_catalog_has_every_key(locale: str) -> None:
    messages = _catalog(locale)

    assert set(messages) == FIXED_KEYS | STATUS_KEYS
    assert all(text.strip() for text in messages.values())


def test_placeholders_match_across_languages() -> None:
    portuguese = _catalog("pt_BR")
    english = _catalog("en")
    formatter = string.Formatter()

    for key, text in portuguese.items():
        names_pt = {name for _, name, _, _ in formatter.parse(text) if name}
        names_en = {name for _, name, _, _ in formatter.parse(english[key]) if name}
        assert names_pt == names_en, key
