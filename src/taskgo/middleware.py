"""Pure ASGI middleware: request id, language, one log event and metrics per request.

It also applies transport-level checks before any route runs. Bodies are bounded in size
(JSON and forms are small, multipart carries photos), and no text may contain a NUL
character, because PostgreSQL cannot store one in `text` or `jsonb` and the request would
otherwise end in a database error.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import orjson
import structlog
from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskgo.errors import error_body, is_json_type
from taskgo.i18n import negotiate_locale, set_current_locale, translate

log = structlog.get_logger("taskgo.request")

REQUEST_COUNT = Counter(
    "taskgo_http_requests_total", "HTTP requests handled.", ["method", "route", "status"]
)
REQUEST_LATENCY = Histogram(
    "taskgo_http_request_duration_seconds",
    "HTTP request latency in seconds.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_UNMATCHED_ROUTE = "<unmatched>"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope["headers"]
        }
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        set_current_locale(negotiate_locale(headers.get("accept-language")))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id

        status_code = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await RequestGuard(self.app, scope, receive, send_with_id).run()
        finally:
            duration = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            REQUEST_COUNT.labels(method, route, str(status_code)).inc()
            REQUEST_LATENCY.labels(method, route, str(status_code)).observe(duration)
            if route not in ("/healthz", "/metrics"):
                log.info(
                    "http.request",
                    method=method,
                    route=route,
                    status=status_code,
                    duration_ms=round(duration * 1000, 2),
                    user_id=scope.get("state", {}).get("user_id"),
                )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED_ROUTE


# JSON and form bodies. The longest text field is a support message (50,000 characters by
# default, SUPPORT_MAX_REQUEST_CHARS), which fits several times over.
MAX_BODY_BYTES = 1024 * 1024
# Multipart: a 10 MB photo or document plus its form overhead. The upload routes then
# apply their own, smaller limits with their own error codes.
MAX_MULTIPART_BODY_BYTES = 16 * 1024 * 1024

_JSON_NUL_ESCAPE = b"\\u0000"
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_MAX_FIELD_NAME = 100
_FORM_TYPE = "application/x-www-form-urlencoded"


def body_limit(content_type: str) -> int:
    if content_type.startswith("multipart/"):
        return MAX_MULTIPART_BODY_BYTES
    return MAX_BODY_BYTES


def _nul_path(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Return the path of the first key or string in a parsed JSON value that contains NUL."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items: Iterator[tuple[str, Any]]
    if isinstance(value, dict):
        for key in value:
            if "\x00" in key:
                return (*path, key)
        items = iter(value.items())
    elif isinstance(value, list):
        items = ((str(index), item) for index, item in enumerate(value))
    else:
        return None
    for key, item in items:
        found = _nul_path(item, (*path, key))
        if found is not None:
            return found
    return None


def json_nul_field(body: bytes) -> str | None:
    """Name the field of a JSON body whose text contains NUL, or None when none does.

    The byte search is only a fast filter: `\\\\u0000` (an escaped backslash) matches it too,
    so the body is parsed to confirm. Invalid JSON is left to the route's own error.
    """
    if _JSON_NUL_ESCAPE not in body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        # json.loads(), FastAPI's parser, also reads NaN, Infinity and numbers past the
        # range of a double, which orjson rejects. Such a body must still be checked.
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return None
    found = _nul_path(parsed)
    return None if found is None else _printable(".".join(found))


def form_nul_field(raw: bytes) -> str | None:
    """Name the field of a URL-encoded query or form whose name or value contains NUL."""
    if b"%00" not in raw and b"\x00" not in raw:
        return None
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return _printable(key)
    return None


def _printable(field: str) -> str:
    """Drop control characters from a field name echoed in an error, and cap its length."""
    # The name itself may be the text at fault, such as an unknown JSON key with a NUL.
    return _CONTROL_CHARACTERS.sub("", field)[:_MAX_FIELD_NAME]


def error_response(status: int, code: str, **details: Any) -> JSONResponse:
    message = translate(code, None, field=details.get("field", ""))
    return JSONResponse(error_body(code, message, details), status_code=status)


class RequestGuard:
    """Reject oversized bodies (413) and NUL characters in the path (400), query or body (422)."""

    def __init__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send

    async def run(self) -> None:
        scope = self.scope
        headers = Headers(scope=scope)
        if "\x00" in scope.get("path", ""):
            await self._reject(400, "request.null_character_in_path")
            return
        query_field = form_nul_field(scope.get("query_string", b""))
        if query_field is not None:
            await self._reject(422, "request.null_character", field=query_field)
            return

        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        limit = body_limit(content_type)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(413, "request.too_large", maxBytes=limit)
            return

        is_json = is_json_type(content_type)
        if is_json or content_type == _FORM_TYPE:
            body = await self._read_body(limit)
            if body is None:
                await self._reject(413, "request.too_large", maxBytes=limit)
                return
            if is_json:
                field = json_nul_field(body)
            else:
                field = form_nul_field(body)
            if field is not None:
                await self._reject(422, "request.null_character", field=field)
                return
            await self.app(scope, _replay(body, self.receive), self.send)
            return
        await self.app(scope, _counting(self.receive, limit), self.send)

    async def _read_body(self, limit: int) -> bytes | None:
        """Read the whole body; None once it passes `limit` (the rest is not read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _reject(self, status: int, code: str, **details: Any) -> None:
        await error_response(status, code, **details)(self.scope, self.receive, self.send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Wrap `receive` to hand over the buffered body once, then wait for the disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    """Wrap `receive` to fail with 413 as soon as a streamed body passes `limit` bytes."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                # FastAPI re-raises HTTPException from body parsing, so this reaches the
                # error handlers as a 413 instead of a generic 400.
                raise HTTPException(status_code=413)
        return message

    return counted
