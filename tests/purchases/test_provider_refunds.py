"""Refunds made at the payment provider, outside the app, while the money is in escrow,
and chargebacks lost after such a refund: what the seller is paid, what the buyer got
back, and the ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.payments.ledger_store import load_balances
from taskgo.purchases import tasks
from taskgo.purchases.models import Purchase
from taskgo.users.models import User
from tests.purchases.conftest import (
    VALID_S10,
    Headers,
    buy,
    create_product,
    deliver_events,
    notifications_of,
    onboard_seller,
    pay,
    product_stock,
)
from tests.standins.stripe_server import StripeStandIn


async def refund_at_provider(standin: StripeStandIn, intent_id: str, amount: int) -> None:
    """Refund part of a payment with the platform's secret key, as an operator does from
    the provider's dashboard: the app learns of it only from webhooks or by reading the
    PaymentIntent."""
    http = stripe.HTTPXClient(timeout=5.0)
    operator = stripe.StripeClient(
        standin.secret_key, base_addresses={"api": standin.base_url}, http_client=http
    )
    try:
        await operator.v1.refunds.create_async({"payment_intent": intent_id, "amount": amount})
    finally:
        await http.close_async()


def _intent_id(purchase: dict[str, Any]) -> str:
    return str(purchase["clientSecret"].split("_secret_")[0])


async def _captured_purchase(
    client: httpx.AsyncClient,
    db: AsyncSession,
    standin: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
    *,
    price: str = "100.00",
) -> tuple[dict[str, Any], uuid.UUID]:
    """Create a paid purchase and capture its card, so the money is in escrow."""
    product = await create_product(client, auth_headers(seller), price=price, stock=3)
    purchase = (await buy(client, auth_headers(buyer), [(product, 1)])).json()
    await pay(standin, client, purchase)
    await db.execute(
        update(Purchase)
        .where(Purchase.id == uuid.UUID(purchase["id"]))
        .values(capture_before=datetime.now(UTC))
    )
    assert await tasks.capture_due(timestamp=0) == 1
    await deliver_events(standin, client)
    return purchase, product


async def _ship(
    client: httpx.AsyncClient, purchase: dict[str, Any], seller: User, auth_headers: Headers
) -> None:
    shipped = await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    assert shipped.status_code == 200, shipped.text


async def _get(client: httpx.AsyncClient, purchase: dict[str, Any], headers: dict[str, str]) -> Any:
    return (await client.get(f"/api/purchases/{purchase['id']}", headers=headers)).json()


@pytest.mark.parametrize("webhook", ["delivered", "lost"])
async def test_release_after_partial_refund(
    webhook: str,
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, _ = await _captured_purchase(client, db, stripe_env, seller, buyer, auth_headers)
    await refund_at_provider(stripe_env, _intent_id(purchase), 3_000)
    if webhook == "delivered":
        await deliver_events(stripe_env, client)
    else:
        # The `charge.refunded` webhook never arrives: the release reads the payment itself.
        stripe_env.take_events()
    await _ship(client, purchase, seller, auth_headers)

    # The provider rejects a transfer of the full R$ 95,00 because R$ 70,00 remain on the
    # charge, and such a release used to be retried every ten minutes without end.
    confirmed = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )
    await deliver_events(stripe_env, client)

    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "released"
    assert body["holdReason"] is None
    assert body["refundedAmount"] == "30.00"
    # What is left for the seller: the total, minus the refund, minus the platform fee.
    [transfer] = stripe_env.world.transfers.values()
    assert transfer["amount"] == 6_500
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert balances.captured == 10_000
    assert balances.refunded == 3_000
    assert balances.fees == 500
    assert balances.transferred == 6_500
    assert balances.escrow_held == 0
    assert balances.net == 0
    titles = [title for title, _ in await notifications_of(db, seller)]
    assert "Pagamento liberado R$ 65,00" in titles

    # Paid once: later runs of the release jobs find nothing to do.
    assert await tasks.release_due(timestamp=0) == 0
    assert await tasks.release_one(purchase_id=purchase["id"]) == 1
    assert len(stripe_env.calls("POST", "/v1/transfers")) == 1
    assert (await load_balances(db, uuid.UUID(purchase["id"]))).transferred == 6_500


async def test_partial_refund_larger_than_seller_share(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, _ = await _captured_purchase(client, db, stripe_env, seller, buyer, auth_headers)
    await refund_at_provider(stripe_env, _intent_id(purchase), 9_800)
    await deliver_events(stripe_env, client)
    await _ship(client, purchase, seller, auth_headers)

    confirmed = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "released"
    # The R$ 2,00 left pays part of the fee; nothing is left to transfer to the seller.
    assert stripe_env.world.transfers == {}
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert balances.refunded == 9_800
    assert balances.fees == 200
    assert balances.transferred == 0
    assert balances.escrow_held == 0
    assert balances.net == 0
    # No "Pagamento liberado R$ 0,00", because the refund notices already informed the seller.
    titles = [title for title, _ in await notifications_of(db, seller)]
    assert not any(title.startswith("Pagamento liberado") for title in titles)


async def test_full_refund_closes_purchase(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, product = await _captured_purchase(
        client, db, stripe_env, seller, buyer, auth_headers
    )
    await _ship(client, purchase, seller, auth_headers)

    await refund_at_provider(stripe_env, _intent_id(purchase), 10_000)
    await deliver_events(stripe_env, client)

    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "refunded"
    assert body["holdReason"] is None
    assert body["refundedAmount"] == "100.00"
    confirm = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )
    assert confirm.status_code == 409
    assert await tasks.release_due(timestamp=0) == 0
    assert stripe_env.calls("POST", "/v1/transfers") == []
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert balances.refunded == 10_000
    assert balances.escrow_held == 0
    assert balances.net == 0
    # The goods were shipped, so the unit does not return to the shelf.
    assert await product_stock(client, product, auth_headers(seller)) == 2
    assert "Reembolso de R$ 100,00" in [t for t, _ in await notifications_of(db, buyer)]


@pytest.mark.parametrize("reverse", [False, True], ids=["in_order", "reversed"])
async def test_lost_chargeback_after_partial_refund(
    reverse: bool,
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _ = await _captured_purchase(
        client, db, stripe_env, seller, buyer, auth_headers, price="50.00"
    )
    await refund_at_provider(stripe_env, _intent_id(purchase), 1_000)
    dispute = stripe_env.open_dispute(_intent_id(purchase))
    assert dispute["amount"] == 4_000
    stripe_env.close_dispute(dispute["id"], won=False)

    # Reversed, the `charge.refunded` webhook comes after the dispute closed: the buyer
    # already has the rest back, so nothing more may be refunded.
    await deliver_events(stripe_env, client, reverse=reverse, twice=True)

    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "refunded"
    assert body["holdReason"] is None
    # R$ 10,00 refunded plus R$ 40,00 through the chargeback, each counted once.
    assert body["refundedAmount"] == "50.00"
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert balances.returned_by("refund") == 1_000
    assert balances.returned_by("dispute") == 4_000
    assert balances.escrow_held == 0
    assert balances.net == 0
    assert len(stripe_env.calls("POST", "/v1/refunds")) == 1
    row = await db.get(Purchase, uuid.UUID(purchase["id"]), populate_existing=True)
    assert row is not None
    assert row.refunded_cents == balances.returned_by("refund") + balances.returned_by("dispute")


async def test_lost_chargeback_after_release(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, _ = await _captured_purchase(client, db, stripe_env, seller, buyer, auth_headers)
    await refund_at_provider(stripe_env, _intent_id(purchase), 3_000)
    await deliver_events(stripe_env, client)
    await _ship(client, purchase, seller, auth_headers)
    released = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )
    assert released.json()["status"] == "released", released.text

    dispute = stripe_env.open_dispute(_intent_id(purchase))
    stripe_env.close_dispute(dispute["id"], won=False)
    await deliver_events(stripe_env, client, twice=True)

    body = await _get(client, purchase, auth_headers(seller))
    # The seller was paid, so the purchase stays released; the platform absorbs the loss.
    assert body["status"] == "released"
    assert body["refundedAmount"] == "100.00"
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert balances.returned_by("refund") == 3_000
    assert balances.returned_by("dispute") == 7_000
    assert balances.escrow_held == 0
    assert balances.net == 0


async def test_release_after_refused_full_transfer(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    account_id = await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, _ = await _captured_purchase(client, db, stripe_env, seller, buyer, auth_headers)
    await refund_at_provider(stripe_env, _intent_id(purchase), 3_000)
    await deliver_events(stripe_env, client)
    await _ship(client, purchase, seller, auth_headers)
    # An earlier release asked for the full R$ 95,00 and was rejected. Stripe keeps that
    # response under the transfer's idempotency key.
    http = stripe.HTTPXClient(timeout=5.0)
    platform = stripe.StripeClient(
        stripe_env.secret_key, base_addresses={"api": stripe_env.base_url}, http_client=http
    )
    try:
        with pytest.raises(stripe.InvalidRequestError, match="Insufficient funds"):
            await platform.v1.transfers.create_async(
                {
                    "amount": 9_500,
                    "currency": "brl",
                    "destination": account_id,
                    "transfer_group": f"purchase_{purchase['id']}",
                    "source_transaction": stripe_env.world.payment_intents[_intent_id(purchase)][
                        "latest_charge"
                    ],
                    "metadata": {"purchase_id": purchase["id"]},
                },
                options={"idempotency_key": f"purchase:{purchase['id']}:transfer"},
            )
    finally:
        await http.close_async()

    confirmed = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "released"
    [transfer] = stripe_env.world.transfers.values()
    assert transfer["amount"] == 6_500
    assert (await load_balances(db, uuid.UUID(purchase["id"]))).transferred == 6_500
