"""Service categories, read from the database and kept in memory for a short while.

Categories change only by migration or by an admin in the database, and every order
request needs one, so a per-process copy refreshed every minute saves a query per
request while a change still shows up within that minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.errors import AppError
from taskgo.service_orders.models import ServiceCategory

REFRESH_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    name_pt_br: str
    name_en: str
    position: int
    active: bool

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_pt_br


class _Cache:
    by_slug: dict[str, Category] = {}  # noqa: RUF012
    loaded_at: float = float("-inf")


_cache = _Cache()


async def all_categories(session: AsyncSession) -> dict[str, Category]:
    """Return every category, retired ones included, keyed by slug, in display order."""
    if time.monotonic() - _cache.loaded_at > REFRESH_SECONDS:
        rows = await session.scalars(select(ServiceCategory).order_by(ServiceCategory.position))
        _cache.by_slug = {
            row.slug: Category(row.slug, row.name_pt_br, row.name_en, row.position, row.active)
            for row in rows
        }
        _cache.loaded_at = time.monotonic()
    return _cache.by_slug


def forget_categories() -> None:
    """Drop the cached copy, so the next read queries the database (tests, admin changes)."""
    _cache.loaded_at = float("-inf")


async def active_categories(session: AsyncSession) -> list[Category]:
    return [category for category in (await all_categories(session)).values() if category.active]


async def get_category(session: AsyncSession, slug: str, *, field: str | None = None) -> Category:
    """Return an active category, or raise 422 `service_category.unknown` naming `field`."""
    category = (await all_categories(session)).get(slug)
    if category is None or not category.active:
        raise AppError("service_category.unknown", status=422, field=field, slug=slug)
    return category


async def any_category(session: AsyncSession, slug: str) -> Category:
    """Return a category by slug, retired ones included, since old orders keep theirs."""
    category = (await all_categories(session)).get(slug)
    if category is None:
        # A slug added after the last refresh: read the database again once.
        forget_categories()
        category = (await all_categories(session)).get(slug)
    if category is None:
        raise AppError("service_category.unknown", status=422, slug=slug)
    return category
