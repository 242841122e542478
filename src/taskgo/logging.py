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


# procrastinate's worker logs every job start and end at INFO, and a failed run that will
# be retried also at INFO. Only the failed runs stay, raised to WARNING.
_WORKER_LOGGER = "procrastinate.worker"
_RETRIED_RUN_ACTIONS = frozenset({"job_error_retry", "job_aborted_retry"})
# Fields of a worker record's `job` extra that each failed-run line carries.
_JOB_FIELDS = ("task_name", "job_id", "attempts")


class _JobRunFilter(logging.Filter):
    """Lets through procrastinate worker records of WARNING and above, and failed runs.

    A failed run that will be retried is raised from INFO to WARNING. Every record that
    passes gets the task name, the job id and the attempts made so far as fields.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_WORKER_LOGGER):
            return True
        if getattr(record, "action", None) in _RETRIED_RUN_ACTIONS:
            record.levelno = max(record.levelno, logging.WARNING)
            record.levelname = logging.getLevelName(record.levelno)
        if record.levelno < logging.WARNING:
            return False
        job = getattr(record, "job", None)
        if isinstance(job, dict):
            record.task_name = job.get("task_name")
            record.job_id = job.get("id")
            record.attempts = job.get("attempts")
        return True


def configure_logging(*, json_logs: bool, level: str = "INFO") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Records from other libraries: the job fields that _JobRunFilter set, and the
    # traceback as text, which the JSON renderer cannot encode otherwise.
    foreign: list[structlog.types.Processor] = [
        *shared,
        structlog.stdlib.ExtraAdder(allow=_JOB_FIELDS),
    ]
    if json_logs:
        foreign.append(structlog.processors.format_exc_info)
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
        foreign_pre_chain=foreign,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    handler.addFilter(_JobRunFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats what the request middleware logs.
    logging.getLogger("uvicorn.access").disabled = True
    # procrastinate.periodic logs each deferred periodic job, every 30 s for the stalled-job
    # check alone.
    for noisy in ("httpx", "httpcore", "hpack", "socketio", "engineio", "procrastinate.periodic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # The worker logs at the root level, so that _JobRunFilter receives its failed runs.
    logging.getLogger(_WORKER_LOGGER).setLevel(logging.NOTSET)
