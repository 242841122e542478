"""The Stripe stand-in itself: it must reject what Stripe rejects, with Stripe's bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.standins.stripe_forms import decode_form
from tests.standins.stripe_server import StripeStandIn


@pytest.fixture
async def raw(stripe_standin: StripeStandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stripe_standin.base_url,
        headers={"Authorization": f"Bearer {stripe_standin.secret_key}"},
    ) as http:
        yield http


def test_form_decoding_nests_and_lists() -> None:
    decoded = decode_form(
        "amount=100&metadata%5Bpurchase_id%5D=p1&expand%5B0%5D=latest_charge"
        "&expand%5B1%5D=customer&capabilities%5Btransfers%5D%5Brequested%5D=true"
    )

    assert decoded == {
        "amount": "100",
        "metadata": {"purchase_id": "p1"},
        "expand": ["latest_charge", "customer"],
        "capabilities": {"transfers": {"requested": "true"}},
    }


async def test_missing_api_key_401(stripe_standin: StripeStandIn) -> None:
    async with httpx.AsyncClient(base_url=stripe_standin.base_url) as http:
        response = await http.post("/v1/payment_intents", data={"amount": "100"})

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "did not provide an API key" in error["message"]


async def test_invalid_api_key_masked(stripe_standin: StripeStandIn) -> None:
    async with httpx.AsyncClient(base_url=stripe_standin.base_url) as http:
        response = await http.get(
            "/v1/payment_intents/pi_x", headers={"Authorization": "Bearer sk_test_abcdefghijklmnop"}
        )

    assert response.status_code == 401
    assert (
        response.json()["error"]["message"] == "Invalid API Key provided: sk_test_************mnop"
    )


async def test_unknown_parameter_rejected(raw: httpx.AsyncClient) -> None:
    response = await raw.post(
        "/v1/payment_intents", data={"amount": "100", "currency": "brl", "colour": "blue"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parameter_unknown"
    assert error["param"] == "colour"
    assert error["message"] == "Received unknown parameter: colour"


@pytest.mark.parametrize(
    ("form", "code", "param"),
    [
        ({"currency": "brl"}, "parameter_missing", "amount"),
        ({"amount": "12.50", "currency": "brl"}, "parameter_invalid_integer", "amount"),
        ({"amount": "0", "currency": "brl"}, "parameter_invalid_integer", "amount"),
        (
            {"amount": "100", "currency": "brl", "capture_method": "later"},
            "parameter_invalid",
            "capture_method",
        ),
        ({"amount": "100"}, "parameter_missing", "currency"),
    ],
)
async def test_bad_intent_parameters(
    raw: httpx.AsyncClient, form: dict[str, str], code: str, param: str
) -> None:
    response = await raw.post("/v1/payment_intents", data=form)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert error["param"] == param


async def test_unknown_currency_rejected(raw: httpx.AsyncClient) -> None:
    response = await raw.post("/v1/payment_intents", data={"amount": "100", "currency": "xyz"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "currency"


async def test_missing_object_404(raw: httpx.AsyncClient) -> None:
    response = await raw.get("/v1/payment_intents/pi_missing")

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "resource_missing"
    assert error["message"] == "No such payment_intent: 'pi_missing'"


async def test_unknown_route_404(raw: httpx.AsyncClient) -> None:
    response = await raw.post("/v1/widgets", data={})

    assert response.status_code == 404
    assert "Unrecognized request URL" in response.json()["error"]["message"]


async def test_idempotent_replay_headers(
    raw: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    form = {"amount": "1000", "currency": "brl"}
    first = await raw.post("/v1/payment_intents", data=form, headers={"Idempotency-Key": "a"})
    again = await raw.post("/v1/payment_intents", data=form, headers={"Idempotency-Key": "a"})
    other = await raw.post(
        "/v1/payment_intents", data={**form, "amount": "2000"}, headers={"Idempotency-Key": "a"}
    )

    assert first.json()["id"] == again.json()["id"]
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert len(stripe_standin.world.payment_intents) == 1


async def test_validation_errors_not_saved(raw: httpx.AsyncClient) -> None:
    bad = await raw.post(
        "/v1/payment_intents", data={"currency": "brl"}, headers={"Idempotency-Key": "b"}
    )
    fixed = await raw.post(
        "/v1/payment_intents",
        data={"amount": "100", "currency": "brl"},
        headers={"Idempotency-Key": "b"},
    )

    assert bad.status_code == 400
    assert fixed.status_code == 200


async def test_publishable_key_needs_client_secret(
    raw: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    intent = (
        await raw.post("/v1/payment_intents", data={"amount": "100", "currency": "brl"})
    ).json()
    app_headers = {"Authorization": f"Bearer {stripe_standin.publishable_key}"}

    wrong = await raw.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        data={"payment_method": "pm_card_visa", "client_secret": "nope"},
        headers=app_headers,
    )
    server_only = await raw.post(f"/v1/payment_intents/{intent['id']}/capture", headers=app_headers)

    assert wrong.status_code == 400
    assert wrong.json()["error"]["param"] == "client_secret"
    assert server_only.status_code == 401


async def test_declined_card_402(raw: httpx.AsyncClient, stripe_standin: StripeStandIn) -> None:
    intent = (
        await raw.post(
            "/v1/payment_intents",
            data={"amount": "100", "currency": "brl", "capture_method": "manual"},
        )
    ).json()

    response = await raw.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        data={"payment_method": "pm_card_chargeDeclined"},
    )

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["type"] == "card_error"
    assert error["code"] == "card_declined"
    assert error["decline_code"] == "generic_decline"
    assert error["message"] == "Your card was declined."
    assert error["payment_intent"]["status"] == "requires_payment_method"
    # The intent keeps the same error, without the intent itself, as `last_payment_error`.
    stored_error = error["payment_intent"]["last_payment_error"]
    assert stored_error == {key: value for key, value in error.items() if key != "payment_intent"}
    [failed] = stripe_standin.take_events("payment_intent.payment_failed")
    assert failed["data"]["object"]["id"] == intent["id"]
    assert failed["data"]["object"]["last_payment_error"] == stored_error


async def test_expired_card_402(raw: httpx.AsyncClient) -> None:
    intent = (
        await raw.post(
            "/v1/payment_intents",
            data={"amount": "100", "currency": "brl", "capture_method": "manual"},
        )
    ).json()

    response = await raw.post(
        f"/v1/payment_intents/{intent['id']}/confirm",
        data={"payment_method": "pm_card_chargeDeclinedExpiredCard"},
    )
    fetched = (await raw.get(f"/v1/payment_intents/{intent['id']}")).json()

    assert response.status_code == 402
    error = fetched["last_payment_error"]
    assert error["type"] == "card_error"
    assert error["code"] == "expired_card"
    assert error["decline_code"] == "expired_card"
    assert error["param"] == "exp_month"
    assert error["message"] == "Your card has expired."
    assert error["doc_url"] == "https://stripe.com/docs/error-codes/expired-card"


async def test_success_clears_payment_error(raw: httpx.AsyncClient) -> None:
    intent = (
        await raw.post(
            "/v1/payment_intents",
            data={"amount": "100", "currency": "brl", "capture_method": "manual"},
        )
    ).json()
    confirm = f"/v1/payment_intents/{intent['id']}/confirm"

    declined = await raw.post(confirm, data={"payment_method": "pm_card_chargeDeclined"})
    paid = await raw.post(confirm, data={"payment_method": "pm_card_visa"})

    assert declined.status_code == 402
    assert paid.status_code == 200
    assert paid.json()["status"] == "requires_capture"
    assert paid.json()["last_payment_error"] is None


async def test_amount_above_maximum_400(raw: httpx.AsyncClient) -> None:
    too_large = await raw.post(
        "/v1/payment_intents", data={"amount": "100000000", "currency": "brl"}
    )
    largest = await raw.post("/v1/payment_intents", data={"amount": "99999999", "currency": "brl"})

    assert too_large.status_code == 400
    error = too_large.json()["error"]
    assert error["code"] == "amount_too_large"
    assert error["param"] == "amount"
    assert largest.status_code == 200


async def test_cancel_authorized_emits_release_events(
    raw: httpx.AsyncClient, stripe_standin: StripeStandIn
) -> None:
    intent = (
        await raw.post(
            "/v1/payment_intents",
            data={"amount": "100", "currency": "brl", "capture_method": "manual"},
        )
    ).json()
    await raw.post(
        f"/v1/payment_intents/{intent['id']}/confirm", data={"payment_method": "pm_card_visa"}
    )
    stripe_standin.take_events()

    response = await raw.post(f"/v1/payment_intents/{intent['id']}/cancel")

    assert response.json()["status"] == "canceled"
    assert [e["type"] for e in stripe_standin.take_events()] == [
        "charge.refunded",
        "payment_intent.canceled",
    ]


async def test_expiry_emits_events(raw: httpx.AsyncClient, stripe_standin: StripeStandIn) -> None:
    intent = (
        await raw.post(
            "/v1/payment_intents",
            data={"amount": "100", "currency": "brl", "capture_method": "manual"},
        )
    ).json()
    await raw.post(
        f"/v1/payment_intents/{intent['id']}/confirm", data={"payment_method": "pm_card_visa"}
    )
    stripe_standin.take_events()

    stripe_standin.advance_clock(7 * 86400)

    events = stripe_standin.take_events()
    assert [e["type"] for e in events] == ["charge.expired", "payment_intent.canceled"]
    assert events[1]["data"]["object"]["cancellation_reason"] == "automatic"


def test_signature_header_matches_scheme(stripe_standin: StripeStandIn) -> None:
    payload = json.dumps({"id": "evt_1"}).encode()

    header = stripe_standin.signature_header(payload, timestamp=1_700_000_000)

    expected = hmac.new(
        stripe_standin.webhook_secret.encode(), b"1700000000." + payload, hashlib.sha256
    ).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
