"""The process's payments provider, built from the settings on first use."""

from __future__ import annotations

import structlog

from taskgo.config import Settings, get_settings
from taskgo.payments.client import StripePayments
from taskgo.payments.local import LocalPayments
from taskgo.payments.provider import PaymentsProvider

log = structlog.get_logger(__name__)

_current: PaymentsProvider | None = None


def build_payments(settings: Settings) -> PaymentsProvider:
    if settings.effective_payments_provider == "stripe":
        return StripePayments(
            secret_key=settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
            timeout_seconds=settings.stripe_timeout_seconds,
            max_network_retries=settings.stripe_max_network_retries,
            connect_country=settings.stripe_connect_country,
        )
    return LocalPayments()


def get_payments() -> PaymentsProvider:
    global _current
    if _current is None:
        _current = build_payments(get_settings())
        log.info("payments.provider_ready", provider=_current.name)
    return _current


def current_payments() -> PaymentsProvider | None:
    return _current


def install_payments(provider: PaymentsProvider | None) -> PaymentsProvider | None:
    """Replace the process's provider (start-up, tests); return the previous one."""
    global _current
    previous, _current = _current, provider
    return previous


async def close_payments() -> None:
    provider = install_payments(None)
    if isinstance(provider, StripePayments | LocalPayments):
        await provider.aclose()
