from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.standins.openai_server import OpenAIStandIn


@pytest.fixture(scope="session")
async def openai_standin_server() -> AsyncIterator[OpenAIStandIn]:
    server = OpenAIStandIn()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def openai_standin(openai_standin_server: OpenAIStandIn) -> OpenAIStandIn:
    openai_standin_server.reset()
    openai_standin_server.context_window = 16_000
    return openai_standin_server
