"""Payments start-up and shutdown hooks, run in the app lifespan and in the worker."""

from __future__ import annotations

from taskgo.config import Settings
from taskgo.payments.providers import (
    build_payments,
    close_payments,
    current_payments,
    install_payments,
)


async def startup(settings: Settings) -> None:
    if current_payments() is None:
        install_payments(build_payments(settings))


async def shutdown() -> None:
    await close_payments()
