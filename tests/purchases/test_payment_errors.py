"""A failed card payment shows a stable code and a message in the request's language."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe
from babel.messages.pofile import read_po
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import taskgo.i18n
from taskgo.payments.failures import PaymentFailure
from taskgo.payments.local import LocalPayments
from taskgo.purchases.models import Purchase
from taskgo.users.models import User
from tests.purchases.conftest import Headers, buy, create_product, deliver_events, pay
from tests.standins.stripe_fixtures import app_confirms_payment
from tests.standins.stripe_server import StripeStandIn

DECLINED_PT = "O cartão foi recusado. Use outro cartão ou fale com o banco emissor."
DECLINED_EN = "The card was declined. Use another card or contact the card issuer."


async def _purchase(
    client: httpx.AsyncClient, seller: User, buyer: User, auth_headers: Headers
) -> dict[str, Any]:
    product = await create_product(client, auth_headers(seller))
    response = await buy(client, auth_headers(buyer), [(product, 1)])
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["paymentErrorCode"] is None
    assert body["paymentError"] is None
    return body


async def _read(
    client: httpx.AsyncClient, headers: dict[str, str], purchase_id: str, language: str
) -> dict[str, Any]:
    response = await client.get(
        f"/api/purchases/{purchase_id}", headers={**headers, "Accept-Language": language}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("payment_method", "code"),
    [
        ("pm_card_chargeDeclined", "payments.card_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "payments.insufficient_funds"),
        ("pm_card_chargeDeclinedStolenCard", "payments.card_declined"),
        ("pm_card_chargeDeclinedExpiredCard", "payments.expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "payments.incorrect_cvc"),
        ("pm_card_chargeDeclinedProcessingError", "payments.processing_error"),
    ],
)
async def test_stripe_decline_code(
    client: httpx.AsyncClient,
    db: AsyncSession,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
    payment_method: str,
    code: str,
) -> None:
    purchase = await _purchase(client, seller, buyer, auth_headers)

    with pytest.raises(stripe.CardError):
        await app_confirms_payment(
            stripe_env, client_secret=purchase["clientSecret"], payment_method=payment_method
        )
    await deliver_events(stripe_env, client)

    portuguese = await _read(client, auth_headers(buyer), purchase["id"], "pt-BR")
    english = await _read(client, auth_headers(buyer), purchase["id"], "en")
    assert portuguese["status"] == "pending_payment"
    assert portuguese["paymentErrorCode"] == code
    assert english["paymentErrorCode"] == code
    assert portuguese["paymentError"] == taskgo.i18n.translate(code, "pt_BR")
    assert english["paymentError"] == taskgo.i18n.translate(code, "en")
    assert portuguese["paymentError"] != english["paymentError"]
    stored = await db.scalar(
        select(Purchase.payment_error_code).where(Purchase.id == purchase["id"])
    )
    assert stored == code


async def test_stripe_retry_clears_error(
    client: httpx.AsyncClient,
    stripe_env: StripeStandIn,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase = await _purchase(client, seller, buyer, auth_headers)
    with pytest.raises(stripe.CardError):
        await app_confirms_payment(
            stripe_env,
            client_secret=purchase["clientSecret"],
            payment_method="pm_card_chargeDeclined",
        )
    await deliver_events(stripe_env, client)
    declined = await _read(client, auth_headers(buyer), purchase["id"], "en")

    await pay(stripe_env, client, purchase)
    paid = await _read(client, auth_headers(buyer), purchase["id"], "en")

    assert declined["paymentErrorCode"] == "payments.card_declined"
    assert declined["paymentError"] == DECLINED_EN
    assert paid["status"] == "paid"
    assert paid["paymentErrorCode"] is None
    assert paid["paymentError"] is None


async def test_local_decline_follows_language(
    client: httpx.AsyncClient,
    local_env: LocalPayments,
    seller: User,
    buyer: User,
    auth_headers: Headers,
) -> None:
    purchase = await _purchase(client, seller, buyer, auth_headers)

    declined = await client.post(
        f"/api/dev/payments/{purchase['id']}/confirm",
        json={"outcome": "declined"},
        headers=auth_headers(buyer),
    )

    assert declined.status_code == 200, declined.text
    assert declined.json()["paymentErrorCode"] == "payments.card_declined"
    assert declined.json()["paymentError"] == DECLINED_PT
    english = await _read(client, auth_headers(buyer), purchase["id"], "en")
    assert english["paymentErrorCode"] == "payments.card_declined"
    assert english["paymentError"] == DECLINED_EN
    seller_view = await _read(client, auth_headers(seller), purchase["id"], "pt-BR")
    assert seller_view["paymentErrorCode"] == "payments.card_declined"


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        ("insufficient_funds", "payments.insufficient_funds"),
        ("expired_card", "payments.expired_card"),
        ("incorrect_cvc", "payments.incorrect_cvc"),
        ("processing_error", "payments.processing_error"),
        ("authentication_failed", "payments.authentication_required"),
    ],
)
async def test_local_decline_outcomes(
    client: httpx.AsyncClient,
    local_env: LocalPayments,
    seller: User,
    buyer: User,
    auth_headers: Headers,
    outcome: str,
    code: str,
) -> None:
    purchase = await _purchase(client, seller, buyer, auth_headers)

    response = await client.post(
        f"/api/dev/payments/{purchase['id']}/confirm",
        json={"outcome": outcome},
        headers=auth_headers(buyer, **{"Accept-Language": "en"}),
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending_payment"
    assert response.json()["paymentErrorCode"] == code
    assert response.json()["paymentError"] == taskgo.i18n.translate(code, "en")


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_every_failure_has_message(locale: str) -> None:
    path = taskgo.i18n.catalogs.LOCALES_DIR / locale / "LC_MESSAGES" / "payments.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    messages = {str(message.id): str(message.string) for message in catalog if message.id}

    for failure in PaymentFailure:
        assert messages.get(failure.value), (locale, failure)
