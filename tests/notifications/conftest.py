from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taskgo.notifications.client import FcmConfig, FcmSender
from tests.standins.fcm import FcmStandin


# Every test runs against both servers of the stand-in: hypercorn, an HTTP/2 server the
# sender did not grow up with, and the lean one the benchmark uses.
@pytest.fixture(params=["hypercorn", "lean"])
async def fcm_standin(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[FcmStandin]:
    standin = FcmStandin(project_id="taskgo-test", server=request.param)
    await standin.start(tmp_path / "fcm")
    try:
        yield standin
    finally:
        await standin.stop()


@pytest.fixture
def fcm_config(fcm_standin: FcmStandin) -> FcmConfig:
    """Sender settings aimed at the stand-in, with millisecond backoff to keep tests fast."""
    return FcmConfig(
        project_id=fcm_standin.project_id,
        service_account_info=fcm_standin.service_account_info(),
        base_url=fcm_standin.base_url,
        ca_file=fcm_standin.ca_file,
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
        timeout_seconds=5,
    )


@pytest.fixture
async def fcm_sender(fcm_config: FcmConfig) -> AsyncIterator[FcmSender]:
    sender = FcmSender(fcm_config)
    try:
        yield sender
    finally:
        await sender.aclose()
