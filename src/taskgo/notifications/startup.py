"""Start and stop the push sender with the app and the worker."""

from __future__ import annotations

from taskgo.config import Settings
from taskgo.notifications.senders import build_push_sender, close_push_sender, use_push_sender


async def startup(settings: Settings) -> None:
    # Building the sender now makes a bad FCM configuration stop the start-up instead of
    # failing the first push job.
    previous = use_push_sender(build_push_sender(settings))
    if previous is not None:
        await previous.aclose()


async def shutdown() -> None:
    await close_push_sender()
