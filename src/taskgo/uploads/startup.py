"""Pick the upload storage backend from STORAGE_URL when the app or the worker starts."""

from __future__ import annotations

import structlog

from taskgo.config import Settings
from taskgo.uploads.service import configure_storage
from taskgo.uploads.storage import storage_from_url

log = structlog.get_logger(__name__)


async def startup(settings: Settings) -> None:
    # A malformed STORAGE_URL raises here, so the process fails at start-up instead of
    # on the first upload.
    storage = storage_from_url(settings.storage_url)
    configure_storage(storage)
    log.info("uploads.storage_configured", backend=storage.describe())


async def shutdown() -> None:
    configure_storage(None)
