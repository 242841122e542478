"""Fixtures for purchase tests: the Stripe stand-in wired in as the payments provider,
users, products created through the products API, and payment helpers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import Settings
from taskgo.payments.client import StripePayments
from taskgo.payments.local import LocalPayments
from taskgo.payments.providers import build_payments, install_payments
from taskgo.users.models import User
from tests.standins.stripe_fixtures import app_confirms_payment
from tests.standins.stripe_server import StripeStandIn

# São Paulo (Sé), inside the municipality data the products API resolves cities from.
SAO_PAULO = {"lat": -23.5505, "lng": -46.6333}
VALID_S10 = "AA123456785BR"


@pytest.fixture
def stripe_standin() -> Iterator[StripeStandIn]:
    with StripeStandIn() as standin:
        yield standin


@pytest.fixture
async def stripe_env(
    stripe_standin: StripeStandIn, settings: Settings
) -> AsyncIterator[StripeStandIn]:
    """Make the app's payments provider the real Stripe client aimed at the stand-in."""
    configured = settings.model_copy(
        update={
            "payments_provider": "stripe",
            "stripe_secret_key": stripe_standin.secret_key,
            "stripe_webhook_secret": stripe_standin.webhook_secret,
            "stripe_api_base": stripe_standin.base_url,
            "stripe_timeout_seconds": 5.0,
        }
    )
    provider = build_payments(configured)
    assert isinstance(provider, StripePayments)
    previous = install_payments(provider)
    yield stripe_standin
    install_payments(previous)
    await provider.aclose()


@pytest.fixture
def local_env() -> Iterator[LocalPayments]:
    provider = LocalPayments()
    previous = install_payments(provider)
    yield provider
    install_payments(previous)


Headers = Callable[..., dict[str, str]]


@pytest.fixture
async def seller(make_user: Callable[..., Awaitable[User]]) -> User:
    return await make_user(role="partner", name="Bia Vendedora", verification_status="verified")


@pytest.fixture
async def buyer(make_user: Callable[..., Awaitable[User]]) -> User:
    return await make_user(role="client", name="Caio Comprador")


async def create_product(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    price: str = "100.00",
    stock: int = 5,
    title: str = "Cadeira de madeira",
) -> uuid.UUID:
    response = await client.post(
        "/api/products",
        json={
            "title": title,
            "description": "Usada, bom estado",
            "price": price,
            "category": "moveis",
            "stock": stock,
            **SAO_PAULO,
        },
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def product_stock(
    client: httpx.AsyncClient, product_id: uuid.UUID, headers: dict[str, str]
) -> int:
    response = await client.get(f"/api/products/{product_id}", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["stock"])


async def buy(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    items: list[tuple[uuid.UUID, int]],
    **extra_headers: str,
) -> httpx.Response:
    return await client.post(
        "/api/purchases",
        json={"items": [{"productId": str(pid), "quantity": qty} for pid, qty in items]},
        headers={"Idempotency-Key": uuid.uuid4().hex, **headers, **extra_headers},
    )


async def deliver_events(
    standin: StripeStandIn,
    client: httpx.AsyncClient,
    *,
    reverse: bool = False,
    twice: bool = False,
) -> list[dict[str, Any]]:
    """Send every queued stand-in event to the webhook route; assert each is accepted."""
    events = standin.take_events()
    ordered = list(reversed(events)) if reverse else events
    if twice:
        ordered = ordered + ordered
    statuses = await standin.deliver(client, ordered)
    assert all(status == 200 for status in statuses), statuses
    return events


async def pay(standin: StripeStandIn, client: httpx.AsyncClient, purchase: dict[str, Any]) -> None:
    """Confirm the card as the app does, then deliver the resulting webhooks."""
    await app_confirms_payment(standin, client_secret=purchase["clientSecret"])
    await deliver_events(standin, client)


async def onboard_seller(
    client: httpx.AsyncClient, standin: StripeStandIn, headers: dict[str, str]
) -> str:
    """Create the seller's Express account through the API and finish its onboarding form."""
    response = await client.post("/api/payments/connect/onboarding", headers=headers)
    assert response.status_code == 200, response.text
    account_id = response.json()["accountId"]
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(response.json()["onboardingUrl"])).status_code == 200
    await deliver_events(standin, client)
    return str(account_id)


async def notifications_of(session: AsyncSession, user: User) -> list[tuple[str, str]]:
    from taskgo.notifications.models import Notification

    rows = await session.execute(
        select(Notification.title, Notification.body)
        .where(Notification.user_id == user.id)
        .order_by(Notification.created_at)
    )
    return [(row.title, row.body) for row in rows]


from tests.realtime.fixtures import connect_socket, socket_server, token_for  # noqa: E402

__all__ = ["connect_socket", "socket_server", "token_for"]
