"""Choose the chat provider from the settings and keep one OpenAI client per process."""

from __future__ import annotations

import structlog

from taskgo.config import Settings
from taskgo.support.client import OpenAIProvider
from taskgo.support.offline import OfflineProvider
from taskgo.support.provider import ChatProvider

log = structlog.get_logger(__name__)


class _Cache:
    provider: OpenAIProvider | None = None
    # The settings the cached client was built from; other settings build a new client.
    signature: tuple[object, ...] | None = None
    warned_missing_key = False


def _signature(settings: Settings) -> tuple[object, ...]:
    return (
        settings.openai_api_key,
        settings.openai_base_url,
        settings.openai_model,
        settings.openai_timeout_seconds,
        settings.openai_connect_timeout_seconds,
        settings.openai_max_attempts,
        settings.openai_backoff_base_seconds,
        settings.openai_backoff_max_seconds,
        settings.openai_max_output_tokens,
        settings.openai_max_tokens_param,
    )


def uses_openai(settings: Settings) -> bool:
    return settings.ai_provider == "openai" and bool(settings.openai_api_key)


async def get_provider(settings: Settings, *, locale: str) -> ChatProvider:
    if not uses_openai(settings):
        if settings.ai_provider == "openai" and not _Cache.warned_missing_key:
            log.warning("support.provider.missing_key", fallback="offline")
            _Cache.warned_missing_key = True
        return OfflineProvider(locale=locale)

    signature = _signature(settings)
    if _Cache.provider is None or _Cache.signature != signature:
        previous = _Cache.provider
        _Cache.provider = OpenAIProvider.from_settings(settings)
        _Cache.signature = signature
        if previous is not None:
            await previous.aclose()
        log.info("support.provider.configured", provider="openai", model=settings.openai_model)
    return _Cache.provider


async def close_provider() -> None:
    if _Cache.provider is not None:
        await _Cache.provider.aclose()
    _Cache.provider = None
    _Cache.signature = None
