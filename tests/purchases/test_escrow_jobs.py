"""Capture before expiry, expired authorizations, cancels, automatic release and disputes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import get_settings
from taskgo.jobs.inline import run_queued_jobs
from taskgo.payments.ledger_store import load_balances
from taskgo.purchases import tasks
from taskgo.purchases.models import Purchase
from taskgo.purchases.service import mark_delivered_by_carrier
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
from tests.standins.stripe_server import Fault, StripeStandIn


async def _paid_purchase(
    client: httpx.AsyncClient,
    standin: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
    *,
    stock: int = 3,
) -> tuple[dict[str, Any], uuid.UUID]:
    product = await create_product(client, auth_headers(seller), stock=stock)
    purchase = (await buy(client, auth_headers(buyer), [(product, 1)])).json()
    await pay(standin, client, purchase)
    return purchase, product


async def _ship_and_confirm(
    client: httpx.AsyncClient,
    purchase: dict[str, Any],
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> httpx.Response:
    """Ship ``purchase`` and confirm its delivery; return the confirmation's response."""
    shipped = await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    assert shipped.status_code == 200, shipped.text
    return await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )


async def _get(client: httpx.AsyncClient, purchase: dict[str, Any], headers: dict[str, str]) -> Any:
    return (await client.get(f"/api/purchases/{purchase['id']}", headers=headers)).json()


async def _shift(db: AsyncSession, purchase: dict[str, Any], **values: Any) -> None:
    await db.execute(
        update(Purchase).where(Purchase.id == uuid.UUID(purchase["id"])).values(**values)
    )


async def test_capture_job_before_deadline(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    intent = stripe_env.world.payment_intents[purchase["clientSecret"].split("_secret_")[0]]
    charge = stripe_env.world.charges[intent["latest_charge"]]
    deadline = datetime.fromtimestamp(
        charge["payment_method_details"]["card"]["capture_before"], UTC
    )

    assert await tasks.capture_due(timestamp=0) == 0
    await _shift(db, purchase, capture_before=datetime.now(UTC) + timedelta(hours=23))
    captured = await tasks.capture_due(timestamp=0)
    again = await tasks.capture_due(timestamp=0)

    row = await db.get(Purchase, uuid.UUID(purchase["id"]), populate_existing=True)
    assert row is not None
    assert captured == 1
    assert again == 0
    assert abs((deadline - (row.authorized_at or deadline)).days - 7) <= 1
    assert row.status == "paid"
    assert row.captured_cents == 10_000
    assert intent["status"] == "succeeded"
    assert len(stripe_env.calls("POST", "/v1/payment_intents/*/capture")) == 1
    assert (await load_balances(db, row.id)).escrow_held == 10_000


async def test_expired_authorization_closes_purchase(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, product = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    stripe_env.expire_authorization(purchase["clientSecret"].split("_secret_")[0])

    await deliver_events(stripe_env, client)

    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "payment_expired"
    assert body["cancelReason"] == "authorization_expired"
    assert body["holdReason"] is None
    assert stripe_env.world.transfers == {}
    assert await product_stock(client, product, auth_headers(seller)) == 3
    assert "Pagamento não concluído" in [t for t, _ in await notifications_of(db, buyer)]
    assert "Pedido sem pagamento" in [t for t, _ in await notifications_of(db, seller)]
    confirm = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )
    assert confirm.status_code == 409


async def test_capture_after_expiry_reports_expired(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    stripe_env.advance_clock(8 * 86400)
    stripe_env.take_events()
    await _shift(db, purchase, capture_before=datetime.now(UTC))

    await tasks.capture_due(timestamp=0)

    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "payment_expired"
    assert stripe_env.world.transfers == {}


async def test_cancel_authorized_releases_hold(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, product = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)

    response = await client.post(
        f"/api/purchases/{purchase['id']}/cancel", headers=auth_headers(buyer)
    )
    await deliver_events(stripe_env, client)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"
    assert response.json()["cancelReason"] == "buyer_canceled"
    intent = stripe_env.world.payment_intents[purchase["clientSecret"].split("_secret_")[0]]
    assert intent["status"] == "canceled"
    assert await product_stock(client, product, auth_headers(seller)) == 3
    assert (await load_balances(db, uuid.UUID(purchase["id"]))).captured == 0


async def test_cancel_captured_refunds(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    await _shift(db, purchase, capture_before=datetime.now(UTC))
    await tasks.capture_due(timestamp=0)

    response = await client.post(
        f"/api/purchases/{purchase['id']}/cancel", headers=auth_headers(seller)
    )
    await deliver_events(stripe_env, client)

    assert response.status_code == 200, response.text
    assert response.json()["refundedAmount"] == "100.00"
    assert response.json()["cancelReason"] == "seller_canceled"
    [refund] = stripe_env.world.refunds.values()
    assert refund["amount"] == 10_000
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert balances.refunded == 10_000
    assert balances.escrow_held == 0
    assert balances.net == 0
    titles = [t for t, _ in await notifications_of(db, buyer)]
    assert "Reembolso de R$ 100,00" in titles


async def test_cancel_after_shipping_rejected(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )

    response = await client.post(
        f"/api/purchases/{purchase['id']}/cancel", headers=auth_headers(buyer)
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "purchase.cannot_cancel"
    assert stripe_env.world.refunds == {}


async def test_carrier_delivery_then_auto_release(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    delivered_at = datetime.now(UTC)

    await mark_delivered_by_carrier(
        db, purchase_id=uuid.UUID(purchase["id"]), occurred_at=delivered_at
    )
    await mark_delivered_by_carrier(
        db, purchase_id=uuid.UUID(purchase["id"]), occurred_at=delivered_at + timedelta(hours=1)
    )

    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "delivered"
    assert body["holdReason"] == "awaiting_buyer_confirmation"
    release_at = datetime.fromisoformat(body["releaseAt"])
    assert abs((release_at - delivered_at) - timedelta(days=7)) < timedelta(seconds=5)
    assert await tasks.release_due(timestamp=0) == 0

    await _shift(db, purchase, release_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await tasks.release_due(timestamp=0) == 1

    body = await _get(client, purchase, auth_headers(seller))
    assert body["status"] == "released"
    assert len(stripe_env.world.transfers) == 1


async def test_dispute_freezes_release(
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
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    await mark_delivered_by_carrier(
        db, purchase_id=uuid.UUID(purchase["id"]), occurred_at=datetime.now(UTC)
    )
    await _shift(db, purchase, capture_before=datetime.now(UTC))
    await tasks.capture_due(timestamp=0)

    opened = await client.post(
        f"/api/purchases/{purchase['id']}/dispute",
        json={"reason": "Produto chegou quebrado"},
        headers=auth_headers(buyer),
    )
    await _shift(db, purchase, release_at=datetime.now(UTC) - timedelta(days=1))
    await tasks.release_due(timestamp=0)
    confirm = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )

    assert opened.status_code == 200, opened.text
    assert opened.json()["holdReason"] == "dispute"
    assert opened.json()["releaseAt"] is None
    assert confirm.json()["status"] == "delivered"
    assert stripe_env.world.transfers == {}

    resolved = await client.post(
        f"/api/admin/purchases/{purchase['id']}/dispute/resolve",
        json={"outcome": "refund", "note": "Foto do produto quebrado"},
        headers=auth_headers(admin),
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "refunded"
    assert stripe_env.world.transfers == {}
    [refund] = stripe_env.world.refunds.values()
    assert refund["amount"] == 10_000
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert balances.net == 0
    assert balances.refunded == 10_000


async def test_release_waits_for_payout_account(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)

    confirmed = await _ship_and_confirm(client, purchase, seller, buyer, auth_headers)

    assert confirmed.json()["status"] == "delivered"
    assert confirmed.json()["holdReason"] == "seller_payout_account_pending"
    assert stripe_env.world.transfers == {}
    assert (await load_balances(db, uuid.UUID(purchase["id"]))).escrow_held == 10_000

    # A buyer who taps confirm again does not make the seller hear it twice.
    again = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )
    assert again.json()["holdReason"] == "seller_payout_account_pending"
    titles = [title for title, _ in await notifications_of(db, seller)]
    assert titles.count("Cadastre sua conta de recebimento") == 1

    await onboard_seller(client, stripe_env, auth_headers(seller))
    ran = await run_queued_jobs(db, task_names={"purchases.release_one"})

    assert ran == ["purchases.release_one"]
    body = await _get(client, purchase, auth_headers(seller))
    assert body["status"] == "released"
    assert len(stripe_env.world.transfers) == 1


async def test_sweep_pays_after_payout_account(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    confirmed = await _ship_and_confirm(client, purchase, seller, buyer, auth_headers)
    assert confirmed.json()["holdReason"] == "seller_payout_account_pending"
    assert await tasks.release_due(timestamp=0) == 0

    await onboard_seller(client, stripe_env, auth_headers(seller))
    # The release job queued when the account became ready is lost.
    await db.execute(
        text("DELETE FROM procrastinate_jobs WHERE task_name = 'purchases.release_one'")
    )

    assert await tasks.release_due(timestamp=0) == 1
    body = await _get(client, purchase, auth_headers(seller))
    assert body["status"] == "released"
    assert len(stripe_env.world.transfers) == 1


async def test_rejected_transfer_keeps_confirmation(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    await onboard_seller(client, stripe_env, auth_headers(seller))
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )
    stripe_env.inject_fault(Fault("POST", "/v1/transfers", status=400))

    confirmed = await client.post(
        f"/api/purchases/{purchase['id']}/confirm-delivery", headers=auth_headers(buyer)
    )

    # The buyer's confirmation is kept; the payout waits for the retry job.
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "delivered"
    assert confirmed.json()["holdReason"] == "payout_retry"
    assert confirmed.json()["buyerConfirmedAt"] is not None
    assert stripe_env.world.transfers == {}
    assert (await load_balances(db, uuid.UUID(purchase["id"]))).escrow_held == 10_000

    ran = await run_queued_jobs(db, task_names={"purchases.release_one"}, include_scheduled=True)

    assert ran == ["purchases.release_one"]
    body = await _get(client, purchase, auth_headers(seller))
    assert body["status"] == "released"
    assert len(stripe_env.world.transfers) == 1


async def test_unpaid_purchase_expires(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    product = await create_product(client, auth_headers(seller), stock=2)
    purchase = (await buy(client, auth_headers(buyer), [(product, 2)])).json()
    assert await product_stock(client, product, auth_headers(seller)) == 0

    await _shift(db, purchase, payment_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert await tasks.expire_unpaid(timestamp=0) == 1

    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "canceled"
    assert body["cancelReason"] == "payment_timeout"
    assert await product_stock(client, product, auth_headers(seller)) == 2
    intent = stripe_env.world.payment_intents[purchase["clientSecret"].split("_secret_")[0]]
    assert intent["status"] == "canceled"


async def test_unshipped_purchase_canceled(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, product = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    await _shift(db, purchase, ship_by=datetime.now(UTC) - timedelta(seconds=1))

    assert await tasks.cancel_unshipped(timestamp=0) == 1

    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "canceled"
    assert body["cancelReason"] == "not_shipped_in_time"
    assert await product_stock(client, product, auth_headers(seller)) == 3


async def test_chargeback_freezes_then_lost(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    await _shift(db, purchase, capture_before=datetime.now(UTC))
    await tasks.capture_due(timestamp=0)
    stripe_env.take_events()
    dispute = stripe_env.open_dispute(purchase["clientSecret"].split("_secret_")[0])
    await deliver_events(stripe_env, client)

    frozen = await _get(client, purchase, auth_headers(buyer))
    assert frozen["holdReason"] == "dispute"
    assert frozen["dispute"]["chargeback"] is True

    stripe_env.close_dispute(dispute["id"], won=False)
    await deliver_events(stripe_env, client)

    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "refunded"
    balances = await load_balances(db, uuid.UUID(purchase["id"]))
    assert balances.net == 0
    assert balances.escrow_held == 0


async def _chargeback_before_shipping(
    client: httpx.AsyncClient,
    db: AsyncSession,
    standin: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> tuple[dict[str, Any], uuid.UUID, dict[str, Any]]:
    purchase, product = await _paid_purchase(client, standin, seller, buyer, auth_headers)
    await _shift(db, purchase, capture_before=datetime.now(UTC))
    await tasks.capture_due(timestamp=0)
    standin.take_events()
    dispute = standin.open_dispute(purchase["clientSecret"].split("_secret_")[0])
    await deliver_events(standin, client)
    return purchase, product, dispute


async def test_cancel_during_chargeback_refused(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _, _ = await _chargeback_before_shipping(
        client, db, stripe_env, seller, buyer, auth_headers
    )
    url = f"/api/purchases/{purchase['id']}/cancel"

    # Stripe rejects refunds of a disputed charge, and that error used to surface as a 500.
    by_buyer = await client.post(url, headers=auth_headers(buyer, **{"Accept-Language": "en"}))
    by_seller = await client.post(url, headers=auth_headers(seller))
    await _shift(db, purchase, ship_by=datetime.now(UTC))
    assert await tasks.cancel_unshipped(timestamp=0) == 1

    assert by_buyer.status_code == 409, by_buyer.text
    assert by_buyer.json()["error"]["code"] == "purchase.dispute_open"
    assert by_buyer.json()["error"]["message"] == (
        "This purchase has a dispute in progress and cannot be canceled now. "
        "Any refund is made through the dispute."
    )
    assert by_seller.status_code == 409
    body = await _get(client, purchase, auth_headers(buyer))
    assert (body["status"], body["holdReason"], body["refundedAmount"]) == (
        "paid",
        "dispute",
        "0.00",
    )
    assert stripe_env.calls("POST", "/v1/refunds") == []


async def test_ship_during_chargeback_keeps_hold(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, _, _ = await _chargeback_before_shipping(
        client, db, stripe_env, seller, buyer, auth_headers
    )

    shipped = await client.post(
        f"/api/purchases/{purchase['id']}/ship",
        json={"trackingCode": VALID_S10},
        headers=auth_headers(seller),
    )

    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped"
    assert shipped.json()["holdReason"] == "dispute"
    assert shipped.json()["dispute"]["status"] == "open"


async def test_lost_chargeback_returns_stock(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, product, dispute = await _chargeback_before_shipping(
        client, db, stripe_env, seller, buyer, auth_headers
    )
    assert await product_stock(client, product, auth_headers(seller)) == 2

    stripe_env.close_dispute(dispute["id"], won=False)
    await deliver_events(stripe_env, client, twice=True)

    assert (await _get(client, purchase, auth_headers(buyer)))["status"] == "refunded"
    # The goods never left, so the unit is for sale again, once.
    assert await product_stock(client, product, auth_headers(seller)) == 3


async def test_capture_at_authorization_setting(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Other tests may rebuild the settings object, so patch the one the code reads now.
    monkeypatch.setattr(get_settings(), "payments_capture_at_authorization", True)
    purchase, _ = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    monkeypatch.undo()

    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "paid"
    assert [c.status for c in stripe_env.calls("POST", "/v1/payment_intents/*/capture")] == [200]
    assert (await load_balances(db, uuid.UUID(purchase["id"]))).escrow_held == 10_000
    assert await tasks.capture_due(timestamp=0) == 0


async def test_admin_cannot_resolve_chargeback(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    make_user: Any,
    auth_headers: Headers,
) -> None:
    admin = await make_user(role="admin", name="Admin")
    purchase, _, _ = await _chargeback_before_shipping(
        client, db, stripe_env, seller, buyer, auth_headers
    )
    url = f"/api/admin/purchases/{purchase['id']}/dispute/resolve"

    # A refund was refused by Stripe (a 503 on every try) and a release paid the seller early.
    refund = await client.post(
        url, json={"outcome": "refund", "note": "estorno"}, headers=auth_headers(admin)
    )
    release = await client.post(
        url, json={"outcome": "release", "note": "liberar"}, headers=auth_headers(admin)
    )

    assert refund.status_code == 409, refund.text
    assert refund.json()["error"]["code"] == "purchase.chargeback_open"
    assert release.status_code == 409
    body = await _get(client, purchase, auth_headers(buyer))
    assert (body["status"], body["holdReason"]) == ("paid", "dispute")
    assert stripe_env.calls("POST", "/v1/refunds") == []
    assert stripe_env.world.transfers == {}


async def test_refused_cancel_keeps_purchase(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase, product = await _paid_purchase(client, stripe_env, seller, buyer, auth_headers)
    # Stripe rejects the cancellation of the payment with a 400, so a retry would fail too.
    stripe_env.inject_fault(Fault("POST", "/v1/payment_intents/", status=400))

    response = await client.post(
        f"/api/purchases/{purchase['id']}/cancel", headers=auth_headers(buyer)
    )

    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "payments.refund_failed"
    body = await _get(client, purchase, auth_headers(buyer))
    assert body["status"] == "paid"
    assert await product_stock(client, product, auth_headers(seller)) == 2
