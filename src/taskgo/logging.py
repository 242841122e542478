"""structlog set-up: console output in dev, JSON lines elsewhere; stdlib logs routed through it."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog


def _json_line(event: Any, **_: Any) -> str:
    # orjson: a log line per request, so the stdlib encoder's cost showed up in profiles.
    return orjson.dumps(event, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def configure_logging(*, json_logs: bool, level: str = "INFO") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_json_line)
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            # First, so that a call below the level costs a check and nothing more.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats what the request middleware logs.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore", "hpack", "procrastinate.worker", "socketio", "engineio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
