"""Start and stop the chat with the app (called from the app's lifespan)."""

from taskgo.chat.writer import close_writer
from taskgo.config import Settings


async def startup(settings: Settings) -> None:
    del settings  # the message writer starts with the first message


async def shutdown() -> None:
    await close_writer()
