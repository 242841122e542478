"""What the log shows of background jobs: every failed run, and no line per job otherwise."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import orjson
import procrastinate
import pytest
import structlog
from procrastinate.testing import InMemoryConnector

from taskgo.logging import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put back the logging set-up of the test session after a test reconfigured it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    structlog_config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, previous in loggers.items():
        logging.getLogger(name).setLevel(previous)
    structlog.configure(**structlog_config)


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_failed_job_runs_logged(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    app = procrastinate.App(connector=InMemoryConnector())

    @app.task(name="probe.explode", retry=procrastinate.RetryStrategy(max_attempts=1))
    async def explode() -> None:
        raise ValueError("probe exploded")

    @app.task(name="probe.succeed")
    async def succeed() -> None:
        return None

    configure_logging(json_logs=True, level="INFO")
    async with app.open_async():
        job_id = await explode.defer_async()
        await succeed.defer_async()
        await app.run_worker_async(wait=False, install_signal_handlers=False)

    lines = _json_lines(capsys.readouterr().err)
    worker_lines = [
        line for line in lines if line.get("logger", "").startswith("procrastinate.worker")
    ]
    failures = [line for line in worker_lines if line.get("task_name") == "probe.explode"]
    # The first run is retried, the second is final: one line each, with the error.
    assert [(line["level"], line["job_id"], line["attempts"]) for line in failures] == [
        ("warning", job_id, 0),
        ("error", job_id, 1),
    ]
    assert all("probe exploded" in line["exception"] for line in failures)
    # Starts, successes and the worker's own comings and goings stay out of the log.
    assert len(worker_lines) == 2
