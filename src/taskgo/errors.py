"""One error type for every expected failure, and the handlers that render it.

Every 4xx/5xx response has the shape `{"error": {"code", "message", "details"}}`. The
`code` is stable English (`product.not_found`); the message comes from the catalogs in
the request's language.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from pydantic.alias_generators import to_camel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from taskgo.i18n import current_locale, translate

log = structlog.get_logger(__name__)

# Seconds a client should wait before retrying when the server is out of database connections.
BUSY_RETRY_AFTER_SECONDS = 2


class AppError(Exception):
    """An expected failure with a stable code, an HTTP status and translated message.

    `params` fill the placeholders of the catalog message for `code`; `field` names the
    request field at fault (camelCase, as the client sent it).
    """

    def __init__(
        self,
        code: str,
        *,
        status: int = 422,
        field: str | None = None,
        details: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.field = field
        self.details = dict(details or {})
        self.params = params
        if field is not None:
            self.details.setdefault("field", field)

    def message(self, locale: str | None = None) -> str:
        return translate(self.code, locale, field=self.field or "", **self.params)


def not_found(code: str, **params: Any) -> AppError:
    return AppError(code, status=404, **params)


def forbidden(code: str, **params: Any) -> AppError:
    return AppError(code, status=403, **params)


def conflict(code: str, **params: Any) -> AppError:
    return AppError(code, status=409, **params)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable dotted code, such as `product.not_found`.")
    message: str = Field(description="Text for people, in the language of Accept-Language.")
    details: dict[str, Any] = Field(
        description=(
            "`field` names the request field at fault. It is empty when the body as a whole is "
            "at fault (missing, not valid JSON or not a JSON object). `errors` lists each one."
        )
    )


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx response."""

    error: ErrorDetail


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# Declared on every route, so the OpenAPI document shows the error shape (and not FastAPI's
# default 422 body) for the statuses that any route may return.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("Malformed request, such as a NUL character in the path."),
    401: _documented("Missing, malformed or expired bearer token (`auth.*`)."),
    403: _documented("The caller's role or ownership does not allow this action."),
    404: _documented("No such resource, or one the caller may not see."),
    409: _documented("The resource's current state does not allow this action."),
    413: _documented("The request body is larger than the limit (`request.too_large`)."),
    422: _documented(
        "Invalid input: `details.field` names the field, or is empty when the whole body is "
        "at fault (`validation.json_invalid` for a body that is not valid JSON)."
    ),
    429: _documented("Too many requests: see the Retry-After header."),
    503: _documented("Temporarily unavailable: retry after the Retry-After header's seconds."),
}


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


# A `{name}` placeholder of an OpenAPI path template, after re.escape().
_PATH_PARAMETER = re.compile(r"\\\{[^/]+?\\\}")

_SOURCES = ("body", "query", "path", "header", "form", "cookie")


def _field_path(loc: Sequence[int | str], error_type: str = "") -> str:
    """Dotted name of the field at fault, as the client knows it.

    Path parameters are named in camelCase like body fields (`purchaseId`). A body that is
    not valid JSON has no field, because its location is a character offset.
    """
    if error_type == "json_invalid":
        return ""
    parts = [str(part) for part in loc]
    # Only the first element names the source: a body field may itself be called `body`.
    if parts and parts[0] in _SOURCES:
        source, parts = parts[0], parts[1:]
        if source == "path":
            parts = [to_camel(part) for part in parts]
    return ".".join(parts)


def _localized_context(context: dict[str, Any]) -> dict[str, Any]:
    """Translate the English conjunction in pydantic's list of choices (`'a' or 'b'`)."""
    expected = context.get("expected")
    if isinstance(expected, str) and current_locale() != "en":
        head, separator, tail = expected.rpartition(" or ")
        if separator:
            context["expected"] = f"{head} {translate('validation.choice_separator')} {tail}"
    return context


_GENERIC_LENGTH_CODES = {
    "validation.too_long": "validation.string_too_long",
    "validation.too_short": "validation.string_too_short",
}
_COLLECTIONS = (list, tuple, set, frozenset, dict)


def _length_code(code: str, error: Mapping[str, Any]) -> str:
    """Report a length limit on text in characters, even when pydantic counted it as items.

    A limit placed after a validator in a field's Annotated is checked by pydantic's generic
    length check (`field_type` "Value"), whose error is the list one ("at most 40 items")
    even for text. Its input is a list when the value is one. Any other input that has a
    length after validation became text, such as a bank code sent as a JSON integer.
    """
    text_code = _GENERIC_LENGTH_CODES.get(code)
    context = error.get("ctx") or {}
    if text_code is None or context.get("field_type") != "Value":
        return code
    return code if isinstance(error.get("input"), _COLLECTIONS) else text_code


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Turn pydantic error dicts into `{field, code, message}` entries in the request language.

    Our own validators raise `PydanticCustomError` with a dotted type such as
    `money.too_many_decimals`; that type is the code. Pydantic's built-in types become
    `validation.<type>`.
    """
    described = []
    for error in errors:
        error_type = str(error.get("type", "value_error"))
        field = _field_path(error.get("loc", ()), error_type)
        code = _length_code(error_type if "." in error_type else f"validation.{error_type}", error)
        if code == "validation.missing" and not field:
            # The whole body is absent, so there is no field to name in the message.
            code = "validation.body_missing"
        if code == "validation.model_attributes_type" and field:
            # Pydantic gives a nested model the body's error type, whose message speaks of
            # the request body.
            code = "validation.model_type"
        context = {k: v for k, v in (error.get("ctx") or {}).items() if k not in ("error", "field")}
        context = _localized_context(context)
        message = translate(code, None, field=field, **context)
        if message == code:
            message = translate("validation.invalid", None, field=field)
        described.append({"field": field, "code": code, "message": message})
    return described


def validation_error_response(errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    described = describe_validation_errors(errors)
    first = described[0] if described else {"field": "", "code": "validation.invalid"}
    return JSONResponse(
        status_code=422,
        content=error_body(
            first["code"],
            described[0]["message"] if described else translate("validation.invalid"),
            {"field": first["field"], "errors": described},
        ),
    )


def is_json_type(content_type: str) -> bool:
    """Tell whether FastAPI parses a body of this media type as JSON (`+json` types too)."""
    maintype, _, subtype = content_type.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


# Exceptions of json.loads() other than a syntax error. Bytes that are not UTF-8 raise
# UnicodeDecodeError (a ValueError), and an integer past Python's 4300-digit limit raises
# ValueError. Nesting deeper than the recursion limit raises RecursionError.
_JSON_DECODE_FAILURES = (ValueError, RecursionError)


def _is_undecodable_json(request: Request, exc: StarletteHTTPException) -> bool:
    """Tell whether FastAPI's bare 400 is a JSON body that json.loads() rejected.

    FastAPI reports a syntax error (json.JSONDecodeError) as a `json_invalid` validation
    error, but any other exception of the body parser as a 400 caused by that exception.
    """
    if exc.status_code != 400 or not isinstance(exc.__cause__, _JSON_DECODE_FAILURES):
        return False
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return is_json_type(content_type)


def _retry_after_seconds(details: Mapping[str, Any]) -> int | None:
    """Whole seconds to wait, from `retryAfterSeconds` or `retryAfterMs` in the details."""
    seconds = details.get("retryAfterSeconds")
    if isinstance(seconds, int) and not isinstance(seconds, bool):
        return max(seconds, 0)
    milliseconds = details.get("retryAfterMs")
    if isinstance(milliseconds, int) and not isinstance(milliseconds, bool):
        # Retry-After takes whole seconds only, so a shorter wait rounds up to one second.
        return max(math.ceil(milliseconds / 1000), 1)
    return None


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    retry_after = _retry_after_seconds(exc.details)
    if exc.status in (429, 503) and retry_after is not None:
        # The standard header as well, for HTTP clients and proxies that back off on their own.
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        status_code=exc.status,
        content=error_body(exc.code, exc.message(), exc.details),
        headers=headers,
    )


async def _request_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    return validation_error_response(exc.errors())


_HTTP_CODES = {
    400: "request.bad_request",
    401: "auth.missing_token",
    403: "auth.forbidden",
    404: "request.not_found",
    405: "request.method_not_allowed",
    406: "request.not_acceptable",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    429: "request.rate_limited",
}


def _allowed_methods(request: Request) -> str:
    """List the methods of every documented route on this path, for the Allow header."""
    # Starlette names only the first route whose path matches, but one path often has a
    # route per method (GET and POST /api/bank-accounts, for example).
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        request.app.state, "allowed_methods", None
    )
    if table is None:
        table = []
        exact: dict[str, set[str]] = {}
        for template, operations in request.app.openapi().get("paths", {}).items():
            methods_of_template = {method.upper() for method in operations}
            regex = _PATH_PARAMETER.sub("[^/]+", re.escape(template))
            table.append((re.compile(f"^{regex}$"), methods_of_template))
            if not _PATH_PARAMETER.search(template):
                exact[template] = methods_of_template
        request.app.state.allowed_methods_exact = exact
        request.app.state.allowed_methods = table
    methods: set[str] = set()
    for pattern, route_methods in table:
        if pattern.match(request.url.path):
            methods.update(route_methods)
    # A path without parameters wins over templates it also matches: /api/products/create
    # takes POST only, although /api/products/{product_id} matches it too.
    exact = request.app.state.allowed_methods_exact.get(request.url.path)
    return ", ".join(sorted(exact or methods))


async def _http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if _is_undecodable_json(request, exc):
        log.info("request.json_undecodable", error_type=type(exc.__cause__).__name__)
        # The same response as for a syntax error, because the body as a whole is at fault.
        return validation_error_response([{"type": "json_invalid", "loc": ("body",)}])
    code = _HTTP_CODES.get(exc.status_code, "request.error")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse(
        status_code=exc.status_code,
        content=error_body(code, translate(code)),
        headers=headers or None,
    )


def _request_id_header(request: Request) -> dict[str, str]:
    # This handler runs outside the request middleware, which adds the header to every
    # other response. Without it a 500 would lack the id that support needs to find the logs.
    request_id = request.scope.get("state", {}).get("request_id")
    return {"X-Request-ID": request_id} if isinstance(request_id, str) else {}


async def _pool_timeout_handler(request: Request, exc: Exception) -> JSONResponse:
    # Every database connection stayed busy for the whole pool timeout. Overload is
    # temporary, so the response is a 503 with Retry-After instead of a 500.
    log.error("request.database_pool_exhausted", error=str(exc)[:200])
    return JSONResponse(
        status_code=503,
        content=error_body("request.server_busy", translate("request.server_busy")),
        headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
    )


_DRIVER_CONNECTION_ERRORS = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.PostgresConnectionError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """Tell whether ``exc`` means no database connection could be used, not a bad statement.

    True for a pool that stayed exhausted, a connection the server closed or refused, and
    SQLAlchemy's wrappers of those.
    """
    if isinstance(exc, (PoolTimeoutError, OSError, *_DRIVER_CONNECTION_ERRORS)):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or (
            exc.orig is not None and is_database_unavailable(exc.orig)
        )
    return False


async def _database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    # A pooled connection that the server closed (restart, failover, idle timeout) fails its
    # first statement; SQLAlchemy has then invalidated it and every older one, so a retry
    # gets a fresh connection. Nothing was written: the transaction died with the connection.
    # asyncpg's own errors come from statements sent to it directly (driver_connection).
    lost_by_driver = isinstance(exc, _DRIVER_CONNECTION_ERRORS)
    if lost_by_driver or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        log.warning("request.database_connection_lost", error=str(exc)[:200])
        return JSONResponse(
            status_code=503,
            content=error_body(
                "request.database_unavailable", translate("request.database_unavailable")
            ),
            headers={"Retry-After": "1", **_request_id_header(request)},
        )
    return await _unhandled_handler(request, exc)


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request.unhandled_error", error_type=type(exc).__name__)
    return JSONResponse(
        status_code=500,
        content=error_body("internal.error", translate("internal.error")),
        headers=_request_id_header(request),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _request_validation_handler)
    app.add_exception_handler(ValidationError, _request_validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(PoolTimeoutError, _pool_timeout_handler)
    app.add_exception_handler(DBAPIError, _database_error_handler)
    for driver_error in _DRIVER_CONNECTION_ERRORS:
        app.add_exception_handler(driver_error, _database_error_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
