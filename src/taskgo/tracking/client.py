"""Async client for the Correios SRO Rastro REST API and its card-based token service.

Authentication: ``POST /token/v1/autentica/cartaopostagem`` with HTTP Basic auth
(Correios user and API access code) and ``{"numero": <postal card>}`` returns a bearer
token with ``emissao``, ``expiraEm`` and ``zoneOffset``. Tracking:
``GET /srorastro/v1/objetos?codigosObjetos=A&codigosObjetos=B&resultado=T`` returns
every event of up to 50 objects. Production runs at ``https://api.correios.com.br``
and homologation at ``https://apihom.correios.com.br``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import structlog

from taskgo.tracking.correios_events import CarrierEvent, parse_correios_event
from taskgo.tracking.ratelimit import AsyncRateLimiter

logger = structlog.get_logger(__name__)

PRODUCTION_BASE_URL = "https://api.correios.com.br"
HOMOLOGATION_BASE_URL = "https://apihom.correios.com.br"
# SRO rejects larger lists in one request.
MAX_CODES_PER_REQUEST = 50
# SRO returns this message prefix, in place of events, for an object it has never seen,
# and SRO-019 for a code it cannot parse.
NOT_FOUND_PREFIX = "SRO-020"
INVALID_OBJECT_PREFIX = "SRO-019"
_DEFAULT_ZONE_OFFSET = timezone(timedelta(hours=-3))
# Refresh a token this long before it expires, capped at a tenth of its lifetime.
_TOKEN_REFRESH_MARGIN = timedelta(minutes=5)


class CorreiosError(Exception):
    """Base of every failure talking to Correios."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CorreiosAuthError(CorreiosError):
    """Correios rejected our credentials or our token (401 after a refresh, or 403)."""


class CorreiosRateLimited(CorreiosError):
    """Correios responded 429; ``retry_after`` is in seconds when the response sent one."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class CorreiosUnavailable(CorreiosError):
    """Network failure, timeout, 5xx or a body that is not the documented JSON."""


class CorreiosRequestRejected(CorreiosError):
    """Correios responded with another 4xx, so the request itself is wrong."""


@dataclass(frozen=True, slots=True)
class CorreiosCredentials:
    user: str
    access_code: str = field(repr=False)
    postal_card: str

    def __post_init__(self) -> None:
        if not self.user or not self.access_code or not self.postal_card:
            raise ValueError("Correios user, access code and postal card are all required")


@dataclass(frozen=True, slots=True)
class TrackedObject:
    """SRO result for one code: its events, or the message SRO sent in their place."""

    code: str
    events: tuple[CarrierEvent, ...] = ()
    message: str | None = None
    skipped_events: int = 0

    @property
    def not_found(self) -> bool:
        return self.message is not None and self.message.startswith(NOT_FOUND_PREFIX)

    @property
    def invalid(self) -> bool:
        return self.message is not None and self.message.startswith(INVALID_OBJECT_PREFIX)


@dataclass(frozen=True, slots=True)
class TrackingAnswer:
    """Result of one objects request; ``missing`` lists requested codes left out of it."""

    objects: dict[str, TrackedObject]
    missing: tuple[str, ...]


@dataclass(slots=True)
class _CachedToken:
    value: str = field(repr=False)
    refresh_at: float


class CorreiosClient:
    """SRO Rastro client with a cached, early-refreshed token and a shared rate limiter."""

    def __init__(
        self,
        *,
        base_url: str,
        credentials: CorreiosCredentials,
        rate_limiter: AsyncRateLimiter | None = None,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._limiter = rate_limiter
        self._clock = clock
        self._wall_clock = wall_clock
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "taskgo-tracking/1"},
        )
        self._token: _CachedToken | None = None
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CorreiosClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- token ---

    async def get_token(self) -> str:
        """Return a valid bearer token, fetching a new one when the cached one is due."""
        async with self._token_lock:
            cached = self._token
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.value
            self._token = await self._fetch_token()
            return self._token.value

    def invalidate_token(self, rejected: str) -> None:
        """Drop the cached token if it is still ``rejected``, after Correios rejected it."""
        if self._token is not None and self._token.value == rejected:
            self._token = None

    async def _fetch_token(self) -> _CachedToken:
        response = await self._send(
            "POST",
            "/token/v1/autentica/cartaopostagem",
            auth=httpx.BasicAuth(self._credentials.user, self._credentials.access_code),
            json={"numero": self._credentials.postal_card},
        )
        if response.status_code in (401, 403, 400):
            raise CorreiosAuthError(
                f"Correios token request rejected: {_messages(response)}",
                status=response.status_code,
            )
        self._raise_for_common_status(response, operation="token")
        body = _json_object(response)

        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise CorreiosUnavailable("Correios token response has no token", status=200)
        lifetime = self._token_lifetime(body)
        margin = min(_TOKEN_REFRESH_MARGIN, lifetime / 10)
        refresh_at = self._clock() + (lifetime - margin).total_seconds()
        logger.info(
            "tracking.correios.token_issued",
            lifetime_seconds=int(lifetime.total_seconds()),
            environment=body.get("ambiente"),
        )
        return _CachedToken(value=token, refresh_at=refresh_at)

    def _token_lifetime(self, body: dict[str, Any]) -> timedelta:
        """Work out how long the token lives from ``expiraEm``.

        ``emissao`` and ``expiraEm`` are local times in ``zoneOffset``. Their difference
        is immune to clock skew between us and Correios, so it wins when both exist.
        """
        zone = _parse_zone_offset(body.get("zoneOffset"))
        expires = _parse_local_time(body.get("expiraEm"), zone)
        if expires is None:
            raise CorreiosUnavailable("Correios token response has no valid expiraEm", status=200)
        issued = _parse_local_time(body.get("emissao"), zone)
        lifetime = expires - issued if issued is not None else expires - self._wall_clock()
        if lifetime <= timedelta(0):
            raise CorreiosUnavailable("Correios issued a token that is already expired", status=200)
        return lifetime

    # --- objects ---

    async def fetch_objects(self, codes: Sequence[str]) -> TrackingAnswer:
        """Fetch every event of up to 50 codes in one request.

        A 401 drops the token and retries once with a new one, because Correios may
        revoke a token before ``expiraEm``. Raises a :class:`CorreiosError` subclass on
        failure, and never returns part of a failed response.
        """
        requested = list(dict.fromkeys(code.strip().upper() for code in codes))
        if not requested:
            return TrackingAnswer(objects={}, missing=())
        if len(requested) > MAX_CODES_PER_REQUEST:
            raise ValueError(f"at most {MAX_CODES_PER_REQUEST} codes per request")

        params = [("codigosObjetos", code) for code in requested] + [("resultado", "T")]
        for attempt in (1, 2):
            token = await self.get_token()
            response = await self._send(
                "GET",
                "/srorastro/v1/objetos",
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code == 401 and attempt == 1:
                logger.warning("tracking.correios.token_rejected", codes=len(requested))
                self.invalidate_token(token)
                continue
            break

        if response.status_code in (401, 403):
            raise CorreiosAuthError(
                f"Correios rejected the objects request: {_messages(response)}",
                status=response.status_code,
            )
        self._raise_for_common_status(response, operation="objects")
        return _parse_objects_answer(_json_object(response), requested)

    # --- transport ---

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self._limiter is not None:
            await self._limiter.acquire()
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise CorreiosUnavailable(f"Correios {method} {url} timed out") from exc
        except httpx.TransportError as exc:
            raise CorreiosUnavailable(f"Correios {method} {url} failed: {exc!r}") from exc
        except httpx.HTTPError as exc:
            # A body that httpx cannot decode (a wrong Content-Encoding), or too many redirects.
            raise CorreiosUnavailable(f"Correios {method} {url} failed: {exc!r}") from exc

    @staticmethod
    def _raise_for_common_status(response: httpx.Response, *, operation: str) -> None:
        status = response.status_code
        if status in (200, 201):
            return
        if status == 429:
            raise CorreiosRateLimited(
                f"Correios rate limit hit on {operation}",
                retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise CorreiosUnavailable(
                f"Correios {operation} failed with {status}: {_messages(response)}", status=status
            )
        raise CorreiosRequestRejected(
            f"Correios rejected the {operation} request with {status}: {_messages(response)}",
            status=status,
        )


def _parse_objects_answer(body: dict[str, Any], requested: list[str]) -> TrackingAnswer:
    raw_objects = body.get("objetos")
    if not isinstance(raw_objects, list):
        raise CorreiosUnavailable("Correios objects response has no objetos list", status=200)

    requested_codes = set(requested)
    objects: dict[str, TrackedObject] = {}
    for raw in raw_objects:
        if not isinstance(raw, dict) or not isinstance(raw.get("codObjeto"), str):
            logger.warning("tracking.correios.malformed_object")
            continue
        code = raw["codObjeto"].strip().upper()
        if code not in requested_codes:
            logger.warning("tracking.correios.unrequested_object", code=code)
            continue
        objects[code] = _parse_object(code, raw)

    missing = tuple(code for code in requested if code not in objects)
    if missing:
        logger.warning("tracking.correios.partial_answer", missing=len(missing))
    return TrackingAnswer(objects=objects, missing=missing)


def _parse_object(code: str, raw: dict[str, Any]) -> TrackedObject:
    message = raw.get("mensagem")
    raw_events = raw.get("eventos")
    events: list[CarrierEvent] = []
    skipped = 0
    if isinstance(raw_events, list):
        for raw_event in raw_events:
            try:
                if not isinstance(raw_event, dict):
                    raise ValueError("SRO event is not an object")
                event = parse_correios_event(raw_event)
            except ValueError as exc:
                skipped += 1
                logger.warning("tracking.correios.malformed_event", code=code, error=str(exc))
                continue
            if not event.mapped:
                logger.info(
                    "tracking.correios.unmapped_event", code=code, carrier_code=event.carrier_code
                )
            events.append(event)
    events.sort(key=lambda event: event.occurred_at)
    return TrackedObject(
        code=code,
        events=tuple(events),
        message=message.strip() if isinstance(message, str) and message.strip() else None,
        skipped_events=skipped,
    )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, RecursionError) as exc:
        # RecursionError: JSON nested deeper than the parser's recursion limit.
        raise CorreiosUnavailable(
            f"Correios responded {response.status_code} with a body that is not JSON",
            status=response.status_code,
        ) from exc
    if not isinstance(body, dict):
        raise CorreiosUnavailable("Correios responded with JSON that is not an object")
    return body


def _messages(response: httpx.Response) -> str:
    """Summarize an SRO error body (``{"msgs": [...]}``) for logs and exceptions."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return response.text[:200] or "(empty body)"
    if isinstance(body, dict) and isinstance(body.get("msgs"), list):
        return "; ".join(str(message) for message in body["msgs"])[:300]
    return str(body)[:200]


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _parse_zone_offset(value: Any) -> timezone:
    if not isinstance(value, str):
        return _DEFAULT_ZONE_OFFSET
    try:
        parsed = datetime.strptime(value.strip(), "%z")
    except ValueError:
        return _DEFAULT_ZONE_OFFSET
    offset = parsed.utcoffset()
    return timezone(offset) if offset is not None else _DEFAULT_ZONE_OFFSET


def _parse_local_time(value: Any, zone: timezone) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
