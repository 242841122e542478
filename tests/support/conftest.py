from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from taskgo.config import reset_settings
from tests.standins.openai_server import DEFAULT_KEY, OpenAIStandIn
from tests.support.sockets import connect_client, support_socket_server  # noqa: F401

SetEnv = Callable[..., None]


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


@pytest.fixture
def support_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[SetEnv]:
    """Set support settings through the environment for one test: `support_env(KEY="v")`."""

    def apply(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reset_settings()

    yield apply
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
def use_openai(openai_standin: OpenAIStandIn, support_env: SetEnv) -> OpenAIStandIn:
    """Point AI_PROVIDER=openai at the stand-in, with short backoffs and timeouts."""
    support_env(
        AI_PROVIDER="openai",
        OPENAI_API_KEY=DEFAULT_KEY,
        OPENAI_BASE_URL=openai_standin.base_url,
        OPENAI_BACKOFF_BASE_SECONDS=0.01,
        OPENAI_BACKOFF_MAX_SECONDS=2,
        OPENAI_TIMEOUT_SECONDS=3,
    )
    return openai_standin


async def new_conversation(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/api/support/conversations", headers=headers)
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["conversationId"]
    return conversation_id
