"""Endpoint handlers of the Stripe stand-in: parameter checks, then the state change.

Each handler takes the decoded parameters and returns `(status, body)` or raises
`StripeApiError`. Parameter errors are raised before any state changes, as Stripe does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tests.standins import stripe_forms as forms
from tests.standins.stripe_connect import StripeConnectWorld
from tests.standins.stripe_forms import StripeApiError

Handler = Callable[[StripeConnectWorld, dict[str, Any], dict[str, str], str], dict[str, Any]]


def _valid_url(value: str | None) -> bool:
    if value is None:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def create_payment_intent(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(
        params,
        {
            "amount",
            "currency",
            "capture_method",
            "metadata",
            "transfer_group",
            "description",
            "payment_method_types",
            "automatic_payment_methods",
            "expand",
            "statement_descriptor",
            "receipt_email",
            "confirm",
            "payment_method",
        },
    )
    amount = forms.positive_amount(params, "amount", required=True)
    currency = forms.currency(params)
    capture = forms.one_of(params, "capture_method", ("automatic", "automatic_async", "manual"))
    metadata = forms.metadata(params)
    transfer_group = forms.string(params, "transfer_group")
    description = forms.string(params, "description", max_length=1000)
    types = params.get("payment_method_types")
    if types is not None and (not isinstance(types, list) or set(types) - {"card"}):
        raise StripeApiError(
            400,
            f"The payment method type provided: {types} is invalid.",
            param="payment_method_types",
            code="payment_method_invalid_parameter",
        )
    intent = world.create_payment_intent(
        amount=int(amount or 0),
        currency=str(currency),
        capture_method=capture or "automatic_async",
        metadata=metadata,
        transfer_group=transfer_group,
        description=description,
    )
    if params.get("confirm") == "true":
        try:
            world.confirm_payment_intent(intent["id"], payment_method=params.get("payment_method"))
        except StripeApiError as declined:
            declined.saved = True
            raise
    return world.render_intent(intent, forms.expand_fields(params))


def retrieve_payment_intent(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(params, {"expand", "client_secret"})
    intent = world.payment_intent(path["id"])
    return world.render_intent(intent, forms.expand_fields(params))


def confirm_payment_intent(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(params, {"payment_method", "expand", "client_secret", "return_url"})
    method = forms.string(params, "payment_method")
    intent = world.confirm_payment_intent(path["id"], payment_method=method)
    return world.render_intent(intent, forms.expand_fields(params))


def capture_payment_intent(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(params, {"amount_to_capture", "metadata", "expand", "final_capture"})
    amount = forms.positive_amount(params, "amount_to_capture", required=False)
    forms.metadata(params)
    intent = world.capture_payment_intent(path["id"], amount_to_capture=amount)
    return world.render_intent(intent, forms.expand_fields(params))


def cancel_payment_intent(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(params, {"cancellation_reason", "expand"})
    reason = forms.one_of(
        params,
        "cancellation_reason",
        ("duplicate", "fraudulent", "requested_by_customer", "abandoned"),
    )
    intent = world.cancel_payment_intent(path["id"], reason=reason)
    return world.render_intent(intent, forms.expand_fields(params))


def retrieve_charge(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(params, {"expand"})
    return copy.deepcopy(world.charge(path["id"], param="id"))


def create_refund(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(
        params, {"charge", "payment_intent", "amount", "reason", "metadata", "expand"}
    )
    charge_id = forms.string(params, "charge")
    intent_id = forms.string(params, "payment_intent")
    if (charge_id is None) == (intent_id is None):
        raise StripeApiError(
            400,
            "You must pass exactly one of `charge` or `payment_intent`.",
            param="payment_intent" if charge_id is None else "charge",
            code="parameter_missing" if charge_id is None else "parameter_invalid",
        )
    amount = forms.positive_amount(params, "amount", required=False)
    reason = forms.one_of(params, "reason", ("duplicate", "fraudulent", "requested_by_customer"))
    metadata = forms.metadata(params)
    refund = world.create_refund(
        charge_id=charge_id, intent_id=intent_id, amount=amount, reason=reason, metadata=metadata
    )
    return copy.deepcopy(refund)


def retrieve_refund(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    refund = world.refunds.get(path["id"])
    if refund is None:
        raise StripeApiError(
            404, f"No such refund: '{path['id']}'", code="resource_missing", param="id"
        )
    return copy.deepcopy(refund)


def create_transfer(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(
        params,
        {
            "amount",
            "currency",
            "destination",
            "transfer_group",
            "source_transaction",
            "metadata",
            "description",
            "expand",
        },
    )
    amount = forms.positive_amount(params, "amount", required=True)
    currency = forms.currency(params)
    destination = str(forms.require(params, "destination"))
    if not destination.startswith("acct_"):
        raise StripeApiError(
            400,
            f"No such destination: '{destination}'",
            code="resource_missing",
            param="destination",
        )
    transfer = world.create_transfer(
        amount=int(amount or 0),
        currency=str(currency),
        destination=destination,
        transfer_group=forms.string(params, "transfer_group"),
        source_transaction=forms.string(params, "source_transaction"),
        metadata=forms.metadata(params),
        description=forms.string(params, "description"),
    )
    return copy.deepcopy(transfer)


def list_transfers(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(
        params, {"transfer_group", "destination", "limit", "starting_after", "expand", "created"}
    )
    limit = forms.integer(params, "limit") or 10
    if not 1 <= limit <= 100:
        raise StripeApiError(
            400,
            "This value must be less than or equal to 100 and greater than 0.",
            param="limit",
            code="parameter_invalid_integer",
        )
    return world.list_transfers(
        transfer_group=forms.string(params, "transfer_group"),
        destination=forms.string(params, "destination"),
        limit=limit,
    )


def retrieve_transfer(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    return copy.deepcopy(world.transfer(path["id"]))


def create_account(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(
        params,
        {
            "type",
            "country",
            "email",
            "capabilities",
            "business_type",
            "metadata",
            "controller",
            "business_profile",
            "expand",
            "default_currency",
        },
    )
    account_type = forms.one_of(params, "type", ("custom", "express", "standard"))
    if account_type is None and params.get("controller") is None:
        raise StripeApiError(
            400,
            "You must specify either `type` or `controller`.",
            param="type",
            code="parameter_missing",
        )
    country = forms.string(params, "country") or "US"
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise StripeApiError(400, f"Country '{country}' is unknown.", param="country")
    capabilities = params.get("capabilities") or {}
    if not isinstance(capabilities, dict):
        raise StripeApiError(400, "Invalid object", param="capabilities")
    requested = [
        name
        for name, options in capabilities.items()
        if isinstance(options, dict) and options.get("requested") == "true"
    ]
    account = world.create_account(
        account_type=account_type or "express",
        country=country,
        email=forms.string(params, "email"),
        requested_capabilities=requested,
        metadata=forms.metadata(params),
    )
    return copy.deepcopy(account)


def retrieve_account(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    return copy.deepcopy(world.account(path["id"]))


def create_account_link(
    world: StripeConnectWorld, params: dict[str, Any], path: dict[str, str], base: str
) -> dict[str, Any]:
    forms.reject_unknown(
        params, {"account", "refresh_url", "return_url", "type", "collect", "expand"}
    )
    account_id = str(forms.require(params, "account"))
    link_type = forms.one_of(params, "type", ("account_onboarding", "account_update"))
    if link_type is None:
        forms.require(params, "type")
    for name in ("refresh_url", "return_url"):
        value = forms.string(params, name)
        if not _valid_url(value):
            raise StripeApiError(400, "Not a valid URL", param=name, code="url_invalid")
    return world.create_account_link(account_id=account_id, link_type=str(link_type), base_url=base)


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("POST", re.compile(r"/v1/payment_intents"), create_payment_intent),
    ("GET", re.compile(r"/v1/payment_intents/(?P<id>[^/]+)"), retrieve_payment_intent),
    ("POST", re.compile(r"/v1/payment_intents/(?P<id>[^/]+)/confirm"), confirm_payment_intent),
    ("POST", re.compile(r"/v1/payment_intents/(?P<id>[^/]+)/capture"), capture_payment_intent),
    ("POST", re.compile(r"/v1/payment_intents/(?P<id>[^/]+)/cancel"), cancel_payment_intent),
    ("GET", re.compile(r"/v1/charges/(?P<id>[^/]+)"), retrieve_charge),
    ("POST", re.compile(r"/v1/refunds"), create_refund),
    ("GET", re.compile(r"/v1/refunds/(?P<id>[^/]+)"), retrieve_refund),
    ("POST", re.compile(r"/v1/transfers"), create_transfer),
    ("GET", re.compile(r"/v1/transfers"), list_transfers),
    ("GET", re.compile(r"/v1/transfers/(?P<id>[^/]+)"), retrieve_transfer),
    ("POST", re.compile(r"/v1/accounts"), create_account),
    ("GET", re.compile(r"/v1/accounts/(?P<id>[^/]+)"), retrieve_account),
    ("POST", re.compile(r"/v1/account_links"), create_account_link),
]

# Endpoints the mobile app may call with the publishable key plus the intent's client secret.
PUBLISHABLE_KEY_ROUTES = {retrieve_payment_intent, confirm_payment_intent}
