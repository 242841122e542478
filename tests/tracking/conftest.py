"""Fixtures shared by the tracking tests: the Correios stand-in and a client bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from taskgo.tracking.client import CorreiosClient, CorreiosCredentials
from tests.standins.correios import CorreiosStandin


@pytest.fixture
def correios() -> Iterator[CorreiosStandin]:
    standin = CorreiosStandin()
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def correios_credentials(correios: CorreiosStandin) -> CorreiosCredentials:
    return CorreiosCredentials(
        user=correios.user, access_code=correios.access_code, postal_card=correios.postal_card
    )


@pytest.fixture
async def correios_client(
    correios: CorreiosStandin, correios_credentials: CorreiosCredentials
) -> AsyncIterator[CorreiosClient]:
    client = CorreiosClient(base_url=correios.base_url, credentials=correios_credentials)
    try:
        yield client
    finally:
        await client.aclose()
