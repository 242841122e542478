"""Disputes mixed with webhooks delivered out of order and refunds made at the provider:
no purchase is frozen for good, and an admin cannot reopen a closed purchase."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.payments.ledger_store import load_balances
from taskgo.purchases import tasks
from taskgo.users.models import User
from tests.purchases.conftest import (
    Headers,
    buy,
    create_product,
    deliver_events,
    notifications_of,
    onboard_seller,
    pay,
    product_stock,
)
from tests.purchases.test_provider_refunds import (
    _captured_purchase,
    _get,
    _intent_id,
    _ship,
    refund_at_provider,
)
from tests.standins.stripe_server import StripeStandIn


async def _open_app_dispute(
    client: httpx.AsyncClient, purchase: dict[str, Any], buyer: User, auth_headers: Headers
) -> None:
    opened = await client.post(
        f"/api/purchases/{purchase['id']}/dispute",
        json={"reason": "Produto chegou quebrado"},
        headers=auth_headers(buyer),
    )
    assert opened.status_code == 200, opened.text
    assert opened.json()["holdReason"] == "dispute"


async def _assert_released_once(
    db: AsyncSession, standin: StripeStandIn, purchase: dict[str, Any]
) -> None:
    [transfer] = standin.world.transfers.values()
    assert transfer["amount"] == 9_500
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert (balances.fees, balances.transferred, balances.escrow_held) == (500, 9_500, 0)
    assert balances.net == 0


async def test_won_chargeback_delivered_before_its_opening(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, _ = await _captured_purchase(client, db, stripe_env, seller, buyer, auth_headers)
    await _ship(client, purchase, seller, auth_headers)
    dispute = stripe_env.open_dispute(_intent_id(purchase))
    stripe_env.close_dispute(dispute["id"], won=True)

    # `closed` (won) arrives before `created`. A hold put on by `created` would never be
    # lifted, so neither the buyer nor an admin could release the money.
    await deliver_events(stripe_env, client, reverse=True, twice=True)

    body = await _get(client, purchase, auth_headers(buyer))
    assert (body["status"], body["holdReason"]) == ("shipped", "awaiting_delivery")
    assert body["dispute"]["chargeback"] is True
    confirmed = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "released"
    await _assert_released_once(db, stripe_env, purchase)


@pytest.mark.parametrize("app_dispute_first", [False, True], ids=["after", "before"])
async def test_admin_resolves_dispute_beside_chargeback(
    app_dispute_first: bool,
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    make_user: Any,
    auth_headers: Headers,
) -> None:
    admin = await make_user(role="admin", name="Admin")
    await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, _ = await _captured_purchase(client, db, stripe_env, seller, buyer, auth_headers)
    await _ship(client, purchase, seller, auth_headers)
    url = f"/api/admin/purchases/{purchase['id']}/dispute/resolve"
    if app_dispute_first:
        await _open_app_dispute(client, purchase, buyer, auth_headers)
    dispute = stripe_env.open_dispute(_intent_id(purchase))
    await deliver_events(stripe_env, client)
    if app_dispute_first:
        # While the card network decides, the admin waits.
        early = await client.post(url, json={"outcome": "release"}, headers=auth_headers(admin))
        assert early.status_code == 409, early.text
        assert early.json()["error"]["code"] == "purchase.chargeback_open"
    stripe_env.close_dispute(dispute["id"], won=True)
    await deliver_events(stripe_env, client)
    if not app_dispute_first:
        await _open_app_dispute(client, purchase, buyer, auth_headers)

    # The chargeback is decided, so the admin resolves the buyer's own dispute. Refused as
    # an open chargeback, the money would stay in escrow for good.
    resolved = await client.post(url, json={"outcome": "release"}, headers=auth_headers(admin))

    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "released"
    assert resolved.json()["dispute"]["status"] == "resolved_release"
    await _assert_released_once(db, stripe_env, purchase)


async def test_full_provider_refund_closes_app_dispute(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    make_user: Any,
    auth_headers: Headers,
) -> None:
    admin = await make_user(role="admin", name="Admin")
    await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, product = await _captured_purchase(
        client, db, stripe_env, seller, buyer, auth_headers
    )
    await _ship(client, purchase, seller, auth_headers)
    await _open_app_dispute(client, purchase, buyer, auth_headers)

    await refund_at_provider(stripe_env, _intent_id(purchase), 10_000)
    await deliver_events(stripe_env, client, twice=True)

    body = await _get(client, purchase, auth_headers(buyer))
    assert (body["status"], body["holdReason"], body["refundedAmount"]) == (
        "refunded",
        None,
        "100.00",
    )
    # The refund settled the buyer's dispute. An admin "release" must not reopen the
    # purchase as delivered, close it again and send both sides a second refund notice.
    assert body["dispute"]["status"] == "resolved_refund"
    for outcome in ("release", "refund"):
        resolved = await client.post(
            f"/api/admin/purchases/{purchase['id']}/dispute/resolve",
            json={"outcome": outcome},
            headers=auth_headers(admin),
        )
        assert resolved.status_code == 409, resolved.text
        assert resolved.json()["error"]["code"] == "purchase.no_open_dispute"
    assert (await _get(client, purchase, auth_headers(buyer)))["status"] == "refunded"
    for user in (buyer, seller):
        titles = [title for title, _ in await notifications_of(db, user)]
        assert titles.count("Reembolso de R$ 100,00") == 1
    assert stripe_env.world.transfers == {}
    assert len(stripe_env.calls("POST", "/v1/refunds")) == 1
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert (balances.refunded, balances.escrow_held, balances.net) == (10_000, 0, 0)
    # Shipped: the unit stays with the buyer.
    assert await product_stock(client, product, auth_headers(seller)) == 2


async def test_admin_cannot_reopen_lapsed_purchase(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    make_user: Any,
    auth_headers: Headers,
) -> None:
    admin = await make_user(role="admin", name="Admin")
    await onboard_seller(client, stripe_env, auth_headers(seller))
    product = await create_product(client, auth_headers(seller), stock=3)
    purchase = (await buy(client, auth_headers(buyer), [(product, 1)])).json()
    await pay(stripe_env, client, purchase)
    await _ship(client, purchase, seller, auth_headers)
    await _open_app_dispute(client, purchase, buyer, auth_headers)
    # The card was never captured and its authorization lapses while the dispute waits.
    stripe_env.expire_authorization(_intent_id(purchase))
    await deliver_events(stripe_env, client)
    assert (await _get(client, purchase, auth_headers(buyer)))["status"] == "payment_expired"

    resolved = await client.post(
        f"/api/admin/purchases/{purchase['id']}/dispute/resolve",
        json={"outcome": "release"},
        headers=auth_headers(admin, **{"Accept-Language": "en"}),
    )

    # A release would set it back to `delivered` and try to capture the lapsed payment.
    assert resolved.status_code == 409, resolved.text
    assert resolved.json()["error"]["code"] == "purchase.dispute_purchase_closed"
    assert resolved.json()["error"]["message"] == (
        "This purchase is already closed (current status: payment expired), so its dispute "
        "can no longer be resolved here."
    )
    assert (await _get(client, purchase, auth_headers(buyer)))["status"] == "payment_expired"
    assert await tasks.release_due(timestamp=0) == 0
    assert stripe_env.world.transfers == {}
