"""Request decoding and parameter checks for the Stripe stand-in.

Stripe's v1 API takes `application/x-www-form-urlencoded` bodies with bracketed keys
(`metadata[purchase_id]=…`, `expand[0]=latest_charge`) and rejects unknown or malformed
parameters with an `invalid_request_error` naming the parameter. These helpers give the
stand-in the same behaviour.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY_PART = re.compile(r"\[([^\]]*)\]")

# Amounts below these are rejected by Stripe with `amount_too_small` (BRL: R$ 0,50).
MINIMUM_CHARGE_AMOUNTS = {"brl": 50, "usd": 50, "eur": 50}
SUPPORTED_CURRENCIES = frozenset({"brl", "usd", "eur"})


class StripeApiError(Exception):
    """An error response in Stripe's body shape.

    `saved` tells whether an idempotent replay returns this result again: Stripe saves the
    result once an endpoint has started executing, but not for requests that failed
    parameter validation.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = False,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.saved = saved
        self.headers = headers or {}
        error: dict[str, Any] = {"message": message, "type": error_type}
        if code is not None:
            error["code"] = code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            error["param"] = param
        error.update(extra or {})
        self.body: dict[str, Any] = {"error": error}


def decode_form(raw: str) -> dict[str, Any]:
    """Decode a bracketed form body into nested dicts; indexed keys become lists."""
    result: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True, strict_parsing=False):
        head, _, rest = key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        _assign(result, parts, value)
    return _lists_from_indexes(result)


def _assign(target: dict[str, Any], parts: list[str], value: str) -> None:
    node = target
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise StripeApiError(
                400,
                f"Invalid object for parameter: {parts[0]}",
                param=parts[0],
                code="parameter_invalid_empty",
            )
        node = child
    leaf = parts[-1]
    if leaf == "":
        # `expand[]=a&expand[]=b` appends, as Stripe accepts from curl users.
        leaf = str(len(node))
    node[leaf] = value


def _lists_from_indexes(node: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(node.items()):
        if isinstance(value, dict):
            value = _lists_from_indexes(value)
            if value and all(k.isdigit() for k in value):
                value = [value[k] for k in sorted(value, key=int)]
            node[key] = value
    return node


def reject_unknown(params: dict[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise StripeApiError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )


def require(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise StripeApiError(
            400, f"Missing required param: {name}.", code="parameter_missing", param=name
        )
    return value


def integer(params: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    raw = require(params, name) if required else params.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
        raise StripeApiError(
            400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name
        )
    return int(raw)


def positive_amount(params: dict[str, Any], name: str, *, required: bool) -> int | None:
    amount = integer(params, name, required=required)
    if amount is not None and amount < 1:
        raise StripeApiError(
            400,
            "This value must be greater than or equal to 1.",
            code="parameter_invalid_integer",
            param=name,
        )
    return amount


def string(params: dict[str, Any], name: str, *, max_length: int = 5000) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise StripeApiError(
            400, f"Invalid string: {value!r}", code="parameter_invalid_string", param=name
        )
    if len(value) > max_length:
        raise StripeApiError(
            400,
            f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
            code="parameter_invalid_string_too_long",
            param=name,
        )
    return value


def one_of(params: dict[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = string(params, name)
    if value is not None and value not in choices:
        listed = ", ".join(f"`{c}`" for c in choices)
        raise StripeApiError(
            400, f"Invalid {name}: must be one of {listed}", param=name, code="parameter_invalid"
        )
    return value


def currency(params: dict[str, Any], *, required: bool = True) -> str | None:
    value = require(params, "currency") if required else params.get("currency")
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in SUPPORTED_CURRENCIES:
        raise StripeApiError(400, f"Invalid currency: {value}.", param="currency")
    return value.lower()


def metadata(params: dict[str, Any]) -> dict[str, str]:
    """Check `metadata` against Stripe's limits: 50 keys of 40 characters, values of 500."""
    raw = params.get("metadata")
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise StripeApiError(400, "Invalid object", param="metadata", code="parameter_invalid")
    if len(raw) > 50:
        raise StripeApiError(
            400, "Invalid metadata: metadata cannot have more than 50 keys", param="metadata"
        )
    for key, value in raw.items():
        if len(key) > 40:
            raise StripeApiError(
                400,
                f"Invalid metadata: keys can be at most 40 characters; {key} is too long",
                param=f"metadata[{key}]",
            )
        if not isinstance(value, str) or len(value) > 500:
            raise StripeApiError(
                400,
                "Invalid metadata: values must be strings of at most 500 characters",
                param=f"metadata[{key}]",
            )
    return dict(raw)


def expand_fields(params: dict[str, Any]) -> list[str]:
    raw = params.get("expand")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise StripeApiError(400, "Invalid array", param="expand", code="parameter_invalid")
    return list(raw)
