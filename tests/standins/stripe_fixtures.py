"""Pytest fixtures around the Stripe stand-in; conftest files import them by name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import stripe

from taskgo.payments.client import StripePayments
from tests.standins.stripe_server import StripeStandIn


@pytest.fixture
def stripe_standin() -> Iterator[StripeStandIn]:
    with StripeStandIn() as standin:
        yield standin


@pytest.fixture
async def stripe_payments(stripe_standin: StripeStandIn) -> AsyncIterator[StripePayments]:
    payments = StripePayments(
        secret_key=stripe_standin.secret_key,
        webhook_secret=stripe_standin.webhook_secret,
        api_base=stripe_standin.base_url,
        timeout_seconds=5.0,
        max_network_retries=2,
    )
    yield payments
    await payments.aclose()


async def app_confirms_payment(
    standin: StripeStandIn, *, client_secret: str, payment_method: str = "pm_card_visa"
) -> dict[str, object]:
    """Confirm a PaymentIntent the way the mobile app does: publishable key and client secret.

    Returns the intent, or raises `stripe.CardError` for a declined test card.
    """
    intent_id = client_secret.split("_secret_")[0]
    http = stripe.HTTPXClient(timeout=5.0)
    app_client = stripe.StripeClient(
        standin.publishable_key,
        base_addresses={"api": standin.base_url},
        http_client=http,
    )
    try:
        # The SDK's typed params omit `client_secret`, which only publishable-key calls send.
        params: Any = {"payment_method": payment_method, "client_secret": client_secret}
        intent = await app_client.v1.payment_intents.confirm_async(intent_id, params)
    finally:
        await http.close_async()
    return intent.to_dict()
