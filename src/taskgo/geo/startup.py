"""Build the nearest-seat index while the app starts, not on the first request."""

from __future__ import annotations

from taskgo.config import Settings
from taskgo.geo.service import get_index


async def startup(settings: Settings) -> None:
    get_index()
