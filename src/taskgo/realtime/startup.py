"""Start and stop the realtime layer with the app (called from the app's lifespan)."""

from taskgo.config import Settings
from taskgo.realtime import presence
from taskgo.realtime.emitter import close_external_emitter
from taskgo.realtime.server import sio


async def startup(settings: Settings) -> None:
    del settings  # the realtime layer reads REDIS_URL through get_settings()
    await presence.start()


async def shutdown() -> None:
    await sio.shutdown()
    await presence.stop()
    await close_external_emitter()
