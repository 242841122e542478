"""Start and stop the support assistant with the app."""

from __future__ import annotations

import structlog

from taskgo.config import Settings
from taskgo.support.knowledge import help_index
from taskgo.support.providers import close_provider, uses_openai

log = structlog.get_logger(__name__)


async def startup(settings: Settings) -> None:
    # Parse the help corpus now, so a broken article fails the start and not a user's turn.
    index = help_index()
    log.info(
        "support.started",
        provider="openai" if uses_openai(settings) else "offline",
        articles=len(index.articles),
    )


async def shutdown() -> None:
    await close_provider()
