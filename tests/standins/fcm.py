"""Local stand-in for Google's OAuth2 token endpoint and the FCM HTTP v1 send API.

It plays both Google roles the sender talks to, over TLS with HTTP/2, served by hypercorn
or, for benchmarks, by the lean server of `fcm_h2` (`server="lean"`); both hand each
request to `FcmStandin.answer`:

- `POST /token` accepts the JWT-bearer grant that `google-auth` sends for the service
  account key the stand-in created, and issues opaque access tokens (`fcm_oauth`).
- `POST /v1/projects/{project}/messages:send` requires one of those access tokens,
  validates the v1 `Message` body, and responds per registration token with success,
  404 UNREGISTERED, 400 INVALID_ARGUMENT (token or payload), 429 with Retry-After, 503.

Error bodies follow the Google API shape, with `FcmError` and `BadRequest` details.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import socket
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import orjson
from hypercorn.asyncio import serve
from hypercorn.config import Config

from tests.standins.fcm_asgi import Receive, Send, read_body, respond, run_lifespan
from tests.standins.fcm_certs import write_self_signed_certificate
from tests.standins.fcm_failures import Failure, error_body
from tests.standins.fcm_h2 import Answer, LeanServer, StandinRequest
from tests.standins.fcm_oauth import OAuthIssuer
from tests.standins.fcm_validation import BodyError, validate_send_body


def make_device_token() -> str:
    """A registration token shaped like the ones the FCM client SDKs return."""
    return f"{secrets.token_urlsafe(16)[:22]}:APA91b{secrets.token_urlsafe(105)}"


@dataclass(slots=True)
class SendRecord:
    """One request to the send endpoint, whatever the response. Times are Unix seconds."""

    status: int
    http_version: str
    token: str | None
    body: dict[str, Any] | None
    received_at: float
    # The client's TCP port, which identifies the connection.
    client_port: int = 0


@dataclass(slots=True)
class Delivery:
    token: str
    message: dict[str, Any]
    message_id: str
    accepted_at: float


@dataclass
class FcmStandin:
    project_id: str = "taskgo-standin"
    access_token_lifetime: int = 3600
    # With False, a token never registered gets UNREGISTERED, as real FCM returns for a
    # token it does not know.
    accept_unknown_tokens: bool = False

    # Time each send request is held before its response, to make concurrency observable.
    response_delay_seconds: float = 0.0
    # `hypercorn`, or `lean` for the `fcm_h2` server that benchmarks use.
    server: Literal["hypercorn", "lean"] = "hypercorn"
    # With False, only counts and times are kept per request (for a benchmark process).
    keep_bodies: bool = True
    # Streams per connection the lean server announces in its SETTINGS.
    max_concurrent_streams: int = 1000

    send_requests: list[SendRecord] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    max_in_flight: int = 0
    on_delivery: Callable[[Delivery], None] | None = None

    def __post_init__(self) -> None:
        self.oauth = OAuthIssuer(
            project_id=self.project_id, access_token_lifetime=self.access_token_lifetime
        )
        self._registered: set[str] = set()
        self._unregistered: set[str] = set()
        self._scripted: defaultdict[str, deque[Failure]] = defaultdict(deque)
        self._port: int | None = None
        self._directory: Path | None = None
        self._shutdown = asyncio.Event()
        self._server_task: asyncio.Task[None] | None = None
        self._lean_server: LeanServer | None = None
        self._in_flight = 0
        # Kept as requests arrive, so a benchmark polling the stats costs almost nothing.
        self._http_versions: set[str] = set()

    # Test-facing controls ------------------------------------------------------------

    def register(self, *tokens: str) -> None:
        self._registered.update(tokens)
        self._unregistered.difference_update(tokens)

    def unregister(self, token: str) -> None:
        self._unregistered.add(token)

    def script(self, token: str, *failures: Failure) -> None:
        self._scripted[token].extend(failures)

    def revoke_access_tokens(self) -> None:
        self.oauth.revoke_all()

    def drop_connections(self, *, goaway: bool = False) -> None:
        """Close the clients' connections (lean server only), after a GOAWAY if asked."""
        if self._lean_server is None:
            raise RuntimeError("only the lean server can drop its connections")
        self._lean_server.drop_connections(goaway=goaway)

    def delivered_tokens(self) -> list[str]:
        return [delivery.token for delivery in self.deliveries]

    def requests_for(self, token: str) -> list[SendRecord]:
        return [record for record in self.send_requests if record.token == token]

    # Addresses and credentials -------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the FCM stand-in is not started")
        return f"https://127.0.0.1:{self._port}"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    @property
    def ca_file(self) -> str:
        if self._directory is None:
            raise RuntimeError("the FCM stand-in is not started")
        return str(self._directory / "cert.pem")

    def service_account_info(self) -> dict[str, str]:
        return self.oauth.service_account_info(token_uri=self.token_uri)

    # Lifecycle -------------------------------------------------------------------------

    async def start(self, directory: Path | None = None) -> None:
        self._directory = directory or Path(tempfile.mkdtemp(prefix="fcm-standin-"))
        cert, key = write_self_signed_certificate(self._directory)

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Accepted sockets inherit TCP_NODELAY. Without it, Nagle's algorithm delays the
        # small HTTP/2 frames and every response waits for a delayed ACK.
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind(("127.0.0.1", 0))
        # Listening before hypercorn takes the socket means early clients queue instead
        # of being refused.
        listener.listen(512)
        self._port = listener.getsockname()[1]
        if self.server == "lean":
            self._lean_server = LeanServer(self.answer, max_streams=self.max_concurrent_streams)
            await self._lean_server.start(listener=listener, cert=cert, key=key)
            return

        config = Config()
        config.bind = [f"fd://{listener.detach()}"]
        config.certfile = str(cert)
        config.keyfile = str(key)
        config.alpn_protocols = ["h2", "http/1.1"]
        config.h2_max_concurrent_streams = 1000
        # Hypercorn closes a connection after 1,000 requests by default, while FCM keeps its
        # HTTP/2 connections open far longer.
        config.keep_alive_max_requests = 1_000_000
        config.accesslog = None
        config.errorlog = None
        self._shutdown = asyncio.Event()
        self._server_task = asyncio.create_task(
            serve(self, config, shutdown_trigger=self._shutdown.wait)  # type: ignore[arg-type]
        )

    async def stop(self) -> None:
        if self._lean_server is not None:
            self._lean_server.close()
            self._lean_server = None
        self._shutdown.set()
        if self._server_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._server_task, timeout=10)
            self._server_task = None

    async def __aenter__(self) -> FcmStandin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await run_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return

        body = await read_body(receive)
        request = StandinRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode(),
            headers={
                bytes(name).decode("latin-1").lower(): bytes(value).decode("latin-1")
                for name, value in scope["headers"]
            },
            http_version=str(scope.get("http_version")),
            client_port=int((scope.get("client") or ("", 0))[1]),
        )
        status, payload, headers = await self.answer(request, body)
        await respond(send, status, payload, headers)

    async def answer(self, request: StandinRequest, body: bytes) -> Answer:
        """Return the status, body and headers for one complete request, for both servers."""
        path = request.path
        if request.method == "POST" and path == "/token":
            return self.oauth.handle_token_request(
                content_type=request.header("content-type") or "", body=body
            )
        if (
            request.method == "POST"
            and path.startswith("/v1/projects/")
            and path.endswith("/messages:send")
        ):
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                if self.response_delay_seconds:
                    await asyncio.sleep(self.response_delay_seconds)
                return self._handle_send(request, body)
            finally:
                self._in_flight -= 1
        if request.method == "GET" and path == "/_standin/stats":
            since = parse_qs(request.query).get("since", ["0"])[0]
            return 200, self.stats(since=int(since)), ()
        return 404, error_body(404, "NOT_FOUND", "Not Found"), ()

    def stats(self, *, since: int = 0) -> dict[str, Any]:
        """Counts and delivery times, for a benchmark that runs the stand-in in a process.

        The times cover the deliveries after the first `since` ones.
        """
        accepted = [delivery.accepted_at for delivery in self.deliveries[since:]]
        return {
            "requests": len(self.send_requests),
            "deliveries": len(self.deliveries),
            "firstAcceptedAt": min(accepted, default=None),
            "lastAcceptedAt": max(accepted, default=None),
            "tokenRequests": self.oauth.token_requests,
            "httpVersions": sorted(self._http_versions),
        }

    def _handle_send(self, request: StandinRequest, body: bytes) -> Answer:
        received_at = time.time()
        record = SendRecord(
            0, request.http_version, None, None, received_at, client_port=request.client_port
        )
        self.send_requests.append(record)
        self._http_versions.add(record.http_version)

        status, payload, headers = self._answer_send(request, body, record)
        record.status = status
        if not self.keep_bodies:
            record.body = None
        return status, payload, headers

    def _answer_send(self, request: StandinRequest, body: bytes, record: SendRecord) -> Answer:
        denied = self.oauth.check_access(request.header("authorization"))
        if denied is not None:
            return denied

        project = request.path[len("/v1/projects/") : -len("/messages:send")]
        if project != self.project_id:
            text = (
                f"Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project}' "
                f"(or it may not exist)."
            )
            return 403, error_body(403, "PERMISSION_DENIED", text), ()

        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            text = "Invalid JSON payload received. Unexpected token."
            return 400, error_body(400, "INVALID_ARGUMENT", text, violations=[(None, text)]), ()
        record.body = document if isinstance(document, dict) else None

        try:
            message, validate_only = validate_send_body(document)
        except BodyError as error:
            fcm_code = "INVALID_ARGUMENT" if error.fcm_detail else None
            body_out = error_body(
                400,
                "INVALID_ARGUMENT",
                error.text,
                fcm_code=fcm_code,
                violations=[(error.field, error.text)],
            )
            if error.field == "message.token" and isinstance(document, dict):
                record.token = str(document.get("message", {}).get("token"))
            return 400, body_out, ()

        token = message.get("token")
        record.token = token
        if validate_only:
            return 200, {"name": f"projects/{self.project_id}/messages/fake_message_id"}, ()

        if token is not None and self._scripted.get(token):
            failure = self._scripted[token].popleft()
            return failure.status, failure.body, failure.headers

        if token is not None and (
            token in self._unregistered
            or (token not in self._registered and not self.accept_unknown_tokens)
        ):
            return (
                404,
                error_body(
                    404, "NOT_FOUND", "Requested entity was not found.", fcm_code="UNREGISTERED"
                ),
                (),
            )

        message_id = f"0:{time.time_ns()}%{secrets.token_hex(8)}"
        delivery = Delivery(
            str(token), message if self.keep_bodies else {}, message_id, time.time()
        )
        self.deliveries.append(delivery)
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        return 200, {"name": f"projects/{self.project_id}/messages/{message_id}"}, ()


async def _serve_forever(project_id: str, server: Literal["hypercorn", "lean"]) -> None:
    standin = FcmStandin(
        project_id=project_id, accept_unknown_tokens=True, server=server, keep_bodies=False
    )
    await standin.start()
    # The first stdout line is JSON with the address and the key the parent must use.
    print(
        orjson.dumps(
            {
                "baseUrl": standin.base_url,
                "caFile": standin.ca_file,
                "projectId": standin.project_id,
                "serviceAccountInfo": standin.service_account_info(),
            }
        ).decode(),
        flush=True,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    await stop.wait()
    await standin.stop()


def main() -> None:
    """Run the stand-in as its own process for benchmarks, accepting every well-formed
    token, until SIGTERM."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--project", default="taskgo-bench", help="FCM project id")
    parser.add_argument(
        "--server", choices=["hypercorn", "lean"], default="hypercorn", help="HTTP server"
    )
    arguments = parser.parse_args()
    asyncio.run(_serve_forever(arguments.project, arguments.server))


if __name__ == "__main__":
    main()
