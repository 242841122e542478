"""App and worker lifecycle hooks of tracking."""

from __future__ import annotations

from taskgo.config import Settings
from taskgo.tracking.polling import close_correios_client
from taskgo.tracking.settings import get_tracking_settings, reset_tracking_settings


async def startup(settings: Settings) -> None:
    # Read TRACKING_* and CORREIOS_* again, so a changed environment takes effect and a
    # missing Correios credential stops the start instead of the first poll.
    reset_tracking_settings()
    get_tracking_settings()


async def shutdown() -> None:
    await close_correios_client()
