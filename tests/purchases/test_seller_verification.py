"""Payouts wait for the seller's approved identity check, then go out once."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.jobs.inline import run_queued_jobs
from taskgo.purchases import tasks
from taskgo.purchases.release import queue_releases_after_verification
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
)
from tests.standins.stripe_server import StripeStandIn


async def _held_for_verification(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> str:
    """Return the id of a delivered purchase whose payout waits for the seller's identity check."""
    await onboard_seller(client, stripe_env, auth_headers(seller))
    chair = await create_product(client, auth_headers(seller), price="100.00")
    purchase = (await buy(client, auth_headers(buyer), [(chair, 1)])).json()
    await pay(stripe_env, client, purchase)
    shipped = await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    assert shipped.status_code == 200, shipped.text

    # The identity check is withdrawn (e.g. an admin reopened it) before delivery.
    seller.verification_status = "pending"
    await db.flush()
    confirmed = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )
    await deliver_events(stripe_env, client)

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "delivered"
    assert confirmed.json()["holdReason"] == "seller_verification_pending"
    return str(purchase["id"])


async def test_unverified_seller_payout_held(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase_id = await _held_for_verification(client, db, stripe_env, seller, buyer, auth_headers)

    assert stripe_env.world.transfers == {}
    titles = [title for title, _ in await notifications_of(db, seller)]
    assert "Verifique sua identidade para receber" in titles

    seller.verification_status = "verified"
    await db.flush()
    queued = await queue_releases_after_verification(db, seller_id=seller.id)
    assert queued == 1
    await run_queued_jobs(db, task_names={"purchases.release_one"})
    await deliver_events(stripe_env, client)

    released = await client.get(f"/api/purchases/{purchase_id}", headers=auth_headers(buyer))
    assert released.json()["status"] == "released"
    [transfer] = stripe_env.world.transfers.values()
    assert transfer["amount"] == 9_500
    assert transfer["transfer_group"] == f"purchase_{uuid.UUID(purchase_id)}"


async def test_sweep_pays_verified_seller(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase_id = await _held_for_verification(client, db, stripe_env, seller, buyer, auth_headers)
    seller.verification_status = "verified"
    await db.flush()
    await queue_releases_after_verification(db, seller_id=seller.id)
    # The release job the approval queued is lost, as when its worker dies.
    await db.execute(
        text("DELETE FROM procrastinate_jobs WHERE task_name = 'purchases.release_one'")
    )

    assert await tasks.release_due(timestamp=0) == 1
    await deliver_events(stripe_env, client)

    body = (await client.get(f"/api/purchases/{purchase_id}", headers=auth_headers(buyer))).json()
    assert body["status"] == "released"
    assert body["holdReason"] is None
    [transfer] = stripe_env.world.transfers.values()
    assert transfer["amount"] == 9_500
    assert await tasks.release_due(timestamp=0) == 0
    assert len(stripe_env.world.transfers) == 1


async def test_sweep_skips_unverified_seller(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase_id = await _held_for_verification(client, db, stripe_env, seller, buyer, auth_headers)
    reads = len(stripe_env.calls("GET", "/v1/payment_intents/*"))

    assert await tasks.release_due(timestamp=0) == 0

    body = (await client.get(f"/api/purchases/{purchase_id}", headers=auth_headers(buyer))).json()
    assert body["holdReason"] == "seller_verification_pending"
    # The sweep picks only purchases whose hold is gone, so it sends the provider no request.
    assert len(stripe_env.calls("GET", "/v1/payment_intents/*")) == reads
    titles = [title for title, _ in await notifications_of(db, seller)]
    assert titles.count("Verifique sua identidade para receber") == 1
