"""The local payments simulator and the dev confirm route that stands in for the app."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.payments.ledger_store import load_balances
from taskgo.payments.local import LocalPayments
from taskgo.users.models import User
from tests.purchases.conftest import VALID_S10, Headers, buy, create_product
from tests.standins.stripe_server import StripeStandIn


async def test_dev_confirm_then_release(
    client: httpx.AsyncClient,
    db: AsyncSession,
    local_env: LocalPayments,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    onboarding = await client.post("/api/payments/connect/onboarding", headers=auth_headers(seller))
    assert onboarding.status_code == 200, onboarding.text
    assert onboarding.json()["transfersEnabled"] is True
    product = await create_product(client, auth_headers(seller), price="100.00")
    purchase = (await buy(client, auth_headers(buyer), [(product, 1)])).json()
    assert purchase["clientSecret"].startswith("pi_local_")

    declined = await client.post(
        f"/api/dev/payments/{purchase['id']}/confirm",
        json={"outcome": "declined"},
        headers=auth_headers(buyer),
    )
    paid = await client.post(
        f"/api/dev/payments/{purchase['id']}/confirm", headers=auth_headers(buyer)
    )
    await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    released = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )

    assert declined.json()["status"] == "pending_payment"
    assert declined.json()["paymentErrorCode"] == "payments.card_declined"
    assert declined.json()["paymentError"] == (
        "O cartão foi recusado. Use outro cartão ou fale com o banco emissor."
    )
    assert paid.json()["paymentErrorCode"] is None
    assert paid.json()["status"] == "paid"
    assert released.json()["status"] == "released"
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert balances.net == 0
    assert balances.fees == 500
    assert balances.transferred == 9_500


async def test_dev_confirm_only_for_buyer(
    client: httpx.AsyncClient,
    local_env: LocalPayments,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    product = await create_product(client, auth_headers(seller))
    purchase = (await buy(client, auth_headers(buyer), [(product, 1)])).json()

    response = await client.post(
        f"/api/dev/payments/{purchase['id']}/confirm", headers=auth_headers(seller)
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "purchase.only_buyer"


async def test_dev_confirm_absent_with_stripe(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    product = await create_product(client, auth_headers(seller))
    purchase = (await buy(client, auth_headers(buyer), [(product, 1)])).json()

    response = await client.post(
        f"/api/dev/payments/{purchase['id']}/confirm", headers=auth_headers(buyer)
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "payments.dev_route_disabled"


async def test_webhook_route_absent_with_local(
    client: httpx.AsyncClient, local_env: LocalPayments
) -> None:
    response = await client.post(
        "/api/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "payments.webhooks_disabled"


async def test_onboarding_with_stripe(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    auth_headers: Headers,
) -> None:
    response = await client.post("/api/payments/connect/onboarding", headers=auth_headers(seller))
    again = await client.post("/api/payments/connect/onboarding", headers=auth_headers(seller))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["transfersEnabled"] is False
    assert body["onboardingUrl"].startswith(stripe_env.base_url)
    assert again.json()["accountId"] == body["accountId"]
    assert len(stripe_env.world.accounts) == 1
    [call, *_] = stripe_env.calls("POST", "/v1/accounts")
    assert call.params["type"] == "express"
    assert call.params["country"] == "BR"
