"""Pure ASGI middleware: request id, language, one log event and metrics per request."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskgo.i18n import negotiate_locale, set_current_locale

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
            await self.app(scope, receive, send_with_id)
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
