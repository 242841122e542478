"""Purchase lifecycle through the HTTP API, with the real Stripe SDK talking to the stand-in."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.payments.ledger_store import load_balances
from taskgo.payments.models import ProcessedWebhookEvent
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


async def test_create_prices_from_catalog(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    chair = await create_product(client, auth_headers(seller), price="100.00", stock=5)
    lamp = await create_product(
        client, auth_headers(seller), price="33.33", stock=2, title="Lâmpada"
    )

    response = await buy(client, auth_headers(buyer), [(chair, 2), (lamp, 1)])

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending_payment"
    assert body["total"] == "233.33"
    assert body["platformFee"] == "11.67"
    assert body["escrowAmount"] == "221.66"
    assert body["clientSecret"].startswith("pi_")
    [call] = stripe_env.calls("POST", "/v1/payment_intents")
    assert call.params["amount"] == "23333"
    assert call.params["currency"] == "brl"
    assert call.params["capture_method"] == "manual"
    assert call.params["metadata"] == {"purchase_id": body["id"]}
    assert call.params["transfer_group"] == f"purchase_{body['id']}"
    assert call.idempotency_key == f"purchase:{body['id']}:intent"
    assert await product_stock(client, chair, auth_headers(seller)) == 3
    assert await product_stock(client, lamp, auth_headers(seller)) == 1


async def test_multiple_sellers_rejected(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    make_user: object,
    auth_headers: Headers,
) -> None:
    other = await make_user(role="partner", name="Outro Vendedor")  # type: ignore[operator]
    mine = await create_product(client, auth_headers(seller), stock=3)
    theirs = await create_product(client, auth_headers(other), stock=3)

    response = await buy(client, auth_headers(buyer), [(mine, 1), (theirs, 1)])

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "purchase.multiple_sellers"
    assert response.json()["error"]["details"]["field"] == "items"
    assert await product_stock(client, mine, auth_headers(seller)) == 3
    assert await product_stock(client, theirs, auth_headers(other)) == 3
    assert await db.scalar(select(func.count()).select_from(Purchase)) == 0
    assert stripe_env.world.payment_intents == {}


async def test_out_of_stock_changes_nothing(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    chair = await create_product(client, auth_headers(seller), stock=1)

    response = await buy(client, auth_headers(buyer), [(chair, 2)], **{"Accept-Language": "en"})

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "purchase.out_of_stock"
    assert error["message"] == "Not enough stock: 1 unit(s) of this product left."
    assert await product_stock(client, chair, auth_headers(seller)) == 1
    assert await db.scalar(select(func.count()).select_from(Purchase)) == 0
    [intent] = stripe_env.world.payment_intents.values()
    assert intent["status"] == "canceled"


async def test_idempotency_key_replays(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    chair = await create_product(client, auth_headers(seller), stock=5)

    first = await buy(client, auth_headers(buyer), [(chair, 1)], **{"Idempotency-Key": "k-1"})
    again = await buy(client, auth_headers(buyer), [(chair, 1)], **{"Idempotency-Key": "k-1"})
    other = await buy(client, auth_headers(buyer), [(chair, 2)], **{"Idempotency-Key": "k-1"})

    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert len(stripe_env.world.payment_intents) == 1
    assert await product_stock(client, chair, auth_headers(seller)) == 4


async def test_order_without_key_accepted(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    chair = await create_product(client, auth_headers(seller), stock=5)

    first = await buy(client, auth_headers(buyer), [(chair, 1)])
    second = await buy(client, auth_headers(buyer), [(chair, 1)])

    assert first.status_code == 201, first.text
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert await product_stock(client, chair, auth_headers(seller)) == 3


async def test_full_escrow_flow(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    account_id = await onboard_seller(client, stripe_env, auth_headers(seller))
    chair = await create_product(client, auth_headers(seller), price="100.00")
    purchase = (await buy(client, auth_headers(buyer), [(chair, 1)])).json()

    await pay(stripe_env, client, purchase)
    paid = await client.get(f"/api/purchases/{purchase['id']}", headers=auth_headers(seller))
    assert paid.json()["status"] == "paid"
    assert paid.json()["holdReason"] == "awaiting_shipment"
    assert paid.json()["clientSecret"] is None
    assert (
        "Novo pedido!",
        "Cadeira de madeira — R$ 100,00. Envie o pedido e informe o código de rastreamento.",
    ) in await notifications_of(db, seller)

    shipped = await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped"
    assert ("Pedido enviado!", f"Código: {VALID_S10}") in await notifications_of(db, buyer)

    confirmed = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )
    await deliver_events(stripe_env, client)

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "released"
    assert confirmed.json()["holdReason"] is None
    assert len(stripe_env.calls("POST", "/v1/payment_intents/*/capture")) == 1
    [transfer] = stripe_env.world.transfers.values()
    assert transfer["amount"] == 9_500
    assert transfer["destination"] == account_id
    assert transfer["transfer_group"] == f"purchase_{purchase['id']}"
    assert transfer["source_transaction"] is not None
    titles = [title for title, _ in await notifications_of(db, seller)]
    assert "Pagamento liberado R$ 95,00" in titles
    row = await db.get(Purchase, uuid.UUID(purchase["id"]))
    assert row is not None
    balances = await load_balances(db, row.id)
    assert balances.net == 0
    assert balances.captured == 10_000
    assert balances.fees == 500
    assert balances.transferred == 9_500
    assert balances.escrow_held == 0


async def test_webhooks_duplicated_and_reversed(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    from tests.standins.stripe_fixtures import app_confirms_payment

    chair = await create_product(client, auth_headers(seller))
    purchase = (await buy(client, auth_headers(buyer), [(chair, 1)])).json()
    await app_confirms_payment(stripe_env, client_secret=purchase["clientSecret"])

    events = await deliver_events(stripe_env, client, reverse=True, twice=True)

    body = (
        await client.get(f"/api/purchases/{purchase['id']}", headers=auth_headers(buyer))
    ).json()
    assert body["status"] == "paid"
    stored = await db.scalar(select(func.count()).select_from(ProcessedWebhookEvent))
    assert stored == len(events)
    new_order = [t for t, _ in await notifications_of(db, seller) if t == "Novo pedido!"]
    assert len(new_order) == 1


async def test_bad_signature_rejected(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    from tests.standins.stripe_fixtures import app_confirms_payment

    chair = await create_product(client, auth_headers(seller))
    purchase = (await buy(client, auth_headers(buyer), [(chair, 1)])).json()
    await app_confirms_payment(stripe_env, client_secret=purchase["clientSecret"])
    event = stripe_env.take_events("payment_intent.amount_capturable_updated")[0]
    body, headers = stripe_env.signed_request(event)
    wrong_secret = "whsec_" + "x" * 16
    forged = {**headers, "Stripe-Signature": stripe_env.signature_header(body, secret=wrong_secret)}

    response = await client.post("/api/webhooks/stripe", content=body, headers=forged)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payments.invalid_signature"
    state = await client.get(f"/api/purchases/{purchase['id']}", headers=auth_headers(buyer))
    assert state.json()["status"] == "pending_payment"
    assert await db.scalar(select(func.count()).select_from(ProcessedWebhookEvent)) == 0


async def test_malformed_signed_event_rejected(
    client: httpx.AsyncClient, db: AsyncSession, stripe_env: StripeStandIn
) -> None:
    shapes = [
        [],
        {"id": "evt_list", "type": "payment_intent.succeeded", "data": {"object": []}},
        {"id": 7, "type": "payment_intent.succeeded", "data": {"object": {}}},
        {"id": "evt_" + "x" * 300, "type": "charge.refunded", "data": {"object": {}}},
    ]

    statuses = []
    for shape in shapes:
        # The signature is valid and only the body's shape is wrong. These used to return 500.
        body, headers = stripe_env.signed_request(shape)  # type: ignore[arg-type]
        response = await client.post("/api/webhooks/stripe", content=body, headers=headers)
        statuses.append((response.status_code, response.json()["error"]["code"]))

    assert statuses == [(400, "payments.invalid_webhook")] * len(shapes)
    assert await db.scalar(select(func.count()).select_from(ProcessedWebhookEvent)) == 0


async def test_outsider_gets_404(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    make_user: object,
    auth_headers: Headers,
) -> None:
    stranger = await make_user(role="client", name="Estranho")  # type: ignore[operator]
    chair = await create_product(client, auth_headers(seller))
    purchase = (await buy(client, auth_headers(buyer), [(chair, 1)])).json()

    response = await client.get(f"/api/purchases/{purchase['id']}", headers=auth_headers(stranger))
    cancel = await client.post(
        f"/api/purchases/{purchase['id']}/cancel", headers=auth_headers(stranger)
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "purchase.not_found"
    assert cancel.status_code == 404


async def test_ship_rejects_bad_code(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    chair = await create_product(client, auth_headers(seller))
    purchase = (await buy(client, auth_headers(buyer), [(chair, 1)])).json()
    await pay(stripe_env, client, purchase)

    response = await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": "AA123456789BR"},
        headers=auth_headers(seller),
    )
    by_buyer = await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(buyer),
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "tracking.invalid_code"
    assert by_buyer.status_code == 403
    state = await client.get(f"/api/purchases/{purchase['id']}", headers=auth_headers(buyer))
    assert state.json()["status"] == "paid"
