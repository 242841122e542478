"""Start and stop the realtime layer with the app (called from the app's lifespan)."""

import gc
import time

import structlog

from taskgo.config import Settings
from taskgo.realtime import presence
from taskgo.realtime.emitter import close_external_emitter
from taskgo.realtime.server import sio

log = structlog.get_logger(__name__)


def _freeze_startup_objects() -> None:
    # The app imports about half a million long-lived objects (SDKs, OpenCV, NumPy, the
    # models). Left in the collected generations, each full collection walks all of them:
    # measured in the chat bench, such pauses reached 100 to 400 ms and dominated the
    # delivery p99. Frozen objects are skipped by every later collection.
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info(
        "realtime.gc_frozen",
        objects=gc.get_freeze_count(),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )


async def startup(settings: Settings) -> None:
    del settings  # the realtime layer reads REDIS_URL through get_settings()
    await presence.start()
    _freeze_startup_objects()


async def shutdown() -> None:
    await sio.shutdown()
    await presence.stop()
    await close_external_emitter()
