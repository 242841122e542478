"""A local stand-in for the Stripe API that the official `stripe` SDK talks to over HTTP.

It listens on 127.0.0.1 and checks requests the way Stripe does: the secret key in the
`Authorization` header, form-encoded parameters (unknown or malformed ones are rejected
with Stripe's error body), and `Idempotency-Key` semantics (a replay returns the saved
result with `Idempotent-Replayed: true`; the same key with other parameters is an
`idempotency_error`). Events are queued in an outbox and delivered by the test, signed
with Stripe's `Stripe-Signature` scheme, in any order and any number of times.

Test controls beyond the API: `advance_clock`, `expire_authorization`, `open_dispute`,
`complete_onboarding`, `inject_fault` and `latency`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.standins.stripe_connect import StripeConnectWorld
from tests.standins.stripe_forms import StripeApiError, decode_form
from tests.standins.stripe_routes import PUBLISHABLE_KEY_ROUTES, ROUTES
from tests.standins.stripe_state import new_id


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    status: int = 0
    replayed: bool = False


@dataclass
class Fault:
    """A failure to inject: `status` answers with an `api_error`; `drop` runs the request
    and then closes the connection without answering, like a response lost in transit."""

    method: str
    path_prefix: str
    status: int | None = None
    drop: bool = False
    remaining: int = 1


@dataclass
class _SavedResult:
    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class StripeStandIn:
    def __init__(
        self,
        *,
        secret_key: str = "sk_test_taskgo_standin_0123456789",  # noqa: S107
        publishable_key: str = "pk_test_taskgo_standin_0123456789",
        webhook_secret: str = "whsec_taskgo_standin_0123456789",  # noqa: S107
        authorization_days: int = 7,
    ) -> None:
        self.secret_key = secret_key
        self.publishable_key = publishable_key
        self.webhook_secret = webhook_secret
        self.world = StripeConnectWorld(authorization_days=authorization_days)
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.latency = 0.0
        self._saved: dict[tuple[str, str], _SavedResult] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> StripeStandIn:
        handler = type("StripeStandInHandler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StripeStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- test controls -----------------------------------------------------------------

    def advance_clock(self, seconds: int) -> None:
        with self.lock:
            self.world.clock_offset += seconds
            self.world.expire_due_authorizations()

    def expire_authorization(self, intent_id: str) -> None:
        with self.lock:
            self.world.expire_authorization(intent_id)

    def open_dispute(self, intent_id: str) -> dict[str, Any]:
        with self.lock:
            return self.world.open_dispute(intent_id)

    def close_dispute(self, dispute_id: str, *, won: bool) -> dict[str, Any]:
        with self.lock:
            return self.world.close_dispute(dispute_id, won=won)

    def complete_onboarding(self, account_id: str) -> None:
        with self.lock:
            self.world.complete_onboarding(account_id)

    def reverse_transfer(self, transfer_id: str) -> None:
        with self.lock:
            self.world.reverse_transfer(transfer_id)

    def inject_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def calls(
        self, method: str, path: str, *, replayed: bool | None = None
    ) -> list[RecordedRequest]:
        """Requests to exactly `path` (`*` matches one path segment) that reached a handler."""
        pattern = path.split("/")
        with self.lock:
            return [
                r
                for r in self.requests
                if r.method == method
                and _path_matches(r.path.split("/"), pattern)
                and (replayed is None or r.replayed == replayed)
            ]

    # -- webhooks ----------------------------------------------------------------------

    def take_events(self, *types: str) -> list[dict[str, Any]]:
        """Remove and return queued events, all of them or those of the given types."""
        with self.lock:
            taken = [e for e in self.world.outbox if not types or e["type"] in types]
            self.world.outbox = [e for e in self.world.outbox if e not in taken]
            return taken

    def signature_header(
        self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None
    ) -> str:
        stamp = int(time.time()) if timestamp is None else timestamp
        key = (secret or self.webhook_secret).encode()
        signed = f"{stamp}.".encode() + payload
        digest = hmac.new(key, signed, hashlib.sha256).hexdigest()
        return f"t={stamp},v1={digest}"

    def signed_request(self, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        payload = json.dumps(event, indent=2).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": self.signature_header(payload),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        return payload, headers

    async def deliver(
        self,
        client: httpx.AsyncClient,
        events: Sequence[dict[str, Any]],
        *,
        path: str = "/api/webhooks/stripe",
    ) -> list[int]:
        """POST each event to `path` through `client`, in the given order; return statuses."""
        statuses = []
        for event in events:
            body, headers = self.signed_request(event)
            response = await client.post(path, content=body, headers=headers)
            statuses.append(response.status_code)
        return statuses

    # -- request handling --------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: str
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """Return (status, JSON body or None to drop the connection, extra headers)."""
        parts = urlsplit(target)
        if method == "GET" and parts.path.startswith("/setup/e/"):
            return self._onboarding_page(parts.path)
        if self.latency:
            time.sleep(self.latency)
        try:
            params = decode_form(parts.query if method == "GET" else body)
            handler, path_params = self._route(method, parts.path)
            self._authenticate(headers, handler, params, path_params)
        except StripeApiError as error:
            return error.status, error.body, error.headers

        key = headers.get("idempotency-key") if method == "POST" else None
        with self.lock:
            record = RecordedRequest(method, parts.path, params, key)
            self.requests.append(record)
            fault = self._take_fault(method, parts.path)
            if fault is not None and fault.status is not None:
                record.status = fault.status
                return (
                    fault.status,
                    {
                        "error": {
                            "type": "api_error",
                            "message": "An unknown error occurred",
                        }
                    },
                    {},
                )
            status, response, extra = self._run(record, handler, params, path_params)
            record.status = status
            if fault is not None and fault.drop:
                return status, None, {}
            return status, response, extra

    def _run(
        self,
        record: RecordedRequest,
        handler: Any,
        params: dict[str, Any],
        path_params: dict[str, str],
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if record.idempotency_key is not None:
            if len(record.idempotency_key) > 255:
                return (
                    400,
                    {
                        "error": {
                            "type": "invalid_request_error",
                            "message": "Invalid Idempotency-Key: must be at most 255 characters.",
                        }
                    },
                    {},
                )
            saved = self._saved.get((self.secret_key, record.idempotency_key))
            if saved is not None:
                if (saved.method, saved.path, saved.params) != (
                    record.method,
                    record.path,
                    record.params,
                ):
                    return (
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used with "
                                "the same parameters they were first used with. Try using a key "
                                "other than "
                                f"'{record.idempotency_key}' if you meant to execute a different "
                                "request.",
                            }
                        },
                        {},
                    )
                record.replayed = True
                return saved.status, saved.body, {"Idempotent-Replayed": "true"}

        self.world.request_context = {
            "id": new_id("req"),
            "idempotency_key": record.idempotency_key,
        }
        try:
            status, response, save = (
                200,
                handler(self.world, params, path_params, self.base_url),
                True,
            )
        except StripeApiError as error:
            status, response, save = error.status, error.body, error.saved
        finally:
            self.world.request_context = {"id": None, "idempotency_key": None}
        if record.idempotency_key is not None and save:
            self._saved[(self.secret_key, record.idempotency_key)] = _SavedResult(
                record.method, record.path, record.params, status, response
            )
        return status, response, {}

    def _route(self, method: str, path: str) -> tuple[Any, dict[str, str]]:
        for route_method, pattern, handler in ROUTES:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                return handler, match.groupdict()
        raise StripeApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    def _authenticate(
        self,
        headers: dict[str, str],
        handler: Any,
        params: dict[str, Any],
        path_params: dict[str, str],
    ) -> None:
        key = _bearer_key(headers.get("authorization", ""))
        if not key:
            raise StripeApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if hmac.compare_digest(key, self.secret_key):
            return
        if hmac.compare_digest(key, self.publishable_key) and handler in PUBLISHABLE_KEY_ROUTES:
            with self.lock:
                intent = self.world.payment_intents.get(path_params.get("id", ""))
            if intent is not None and params.get("client_secret") == intent["client_secret"]:
                return
            raise StripeApiError(
                400,
                "The client_secret provided does not match the client_secret associated "
                "with the PaymentIntent.",
                param="client_secret",
            )
        masked = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:]
        raise StripeApiError(401, f"Invalid API Key provided: {masked}", code="api_key_invalid")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and path.startswith(fault.path_prefix) and fault.remaining:
                fault.remaining -= 1
                return fault
        return None

    def _onboarding_page(self, path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        token = path.rstrip("/").rsplit("/", 1)[-1]
        with self.lock:
            account_id = self.world.follow_onboarding_link(token)
        if account_id is None:
            return (
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "This onboarding link has expired or was used.",
                    }
                },
                {},
            )
        return 200, {"object": "onboarding_completed", "account": account_id}, {}


def _bearer_key(header: str) -> str:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        decoded = base64.b64decode(value.strip() + "==").decode(errors="replace")
        return decoded.partition(":")[0]
    return ""


def _path_matches(actual: Iterable[str], pattern: Iterable[str]) -> bool:
    actual_parts, pattern_parts = list(actual), list(pattern)
    return len(actual_parts) == len(pattern_parts) and all(
        p == "*" or p == a for a, p in zip(actual_parts, pattern_parts, strict=True)
    )


class _Handler(BaseHTTPRequestHandler):
    standin: StripeStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload, extra = self.standin.handle(method, self.path, headers, body)
        if payload is None:
            self.close_connection = True
            return
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", new_id("req"))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
