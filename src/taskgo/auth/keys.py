"""Public keys that sign ID tokens: Google's rotating x509 certificates, or the dev key."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Protocol

import httpx
import structlog
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from taskgo.errors import AppError

log = structlog.get_logger(__name__)

_MAX_AGE = re.compile(r"max-age=(\d+)")
_DEFAULT_TTL_SECONDS = 300.0


class KeySource(Protocol):
    async def get_key(self, kid: str) -> RSAPublicKey | None: ...


class StaticKeySource:
    """Keys known in advance (the dev issuer)."""

    def __init__(self, keys: dict[str, RSAPublicKey]) -> None:
        self._keys = keys

    async def get_key(self, kid: str) -> RSAPublicKey | None:
        return self._keys.get(kid)


class HttpCertificateSource:
    """Google's securetoken certificates: `{kid: PEM certificate}`, cached for max-age.

    An unknown `kid` triggers one refetch, at most once per `refetch_interval` seconds,
    so a flood of tokens with made-up key ids cannot hammer the key endpoint.
    """

    def __init__(
        self, url: str, *, refetch_interval: float = 30.0, client: httpx.AsyncClient | None = None
    ) -> None:
        self._url = url
        self._refetch_interval = refetch_interval
        self._client = client
        self._keys: dict[str, RSAPublicKey] = {}
        self._expires_at = 0.0
        self._last_forced_fetch = float("-inf")
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def get_key(self, kid: str) -> RSAPublicKey | None:
        now = time.monotonic()
        if now >= self._expires_at:
            await self._refresh(force=False)
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._last_forced_fetch >= self._refetch_interval:
            await self._refresh(force=True)
            key = self._keys.get(kid)
        return key

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if not force and now < self._expires_at:
                return  # another task refreshed while this one waited
            if force:
                if now - self._last_forced_fetch < self._refetch_interval:
                    return
                self._last_forced_fetch = now
            try:
                response = await self._fetch()
                response.raise_for_status()
                self._keys = _parse_certificates(response.json())
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("auth.keys_fetch_failed", url=self._url, error=str(exc))
                if not self._keys:
                    raise AppError("auth.keys_unavailable", status=503) from exc
                # Keep the expired keys for a while: retrying at once made every request
                # wait, one after another under the lock, for a fetch that kept failing.
                self._expires_at = now + self._refetch_interval
                return
            self.fetch_count += 1
            self._expires_at = now + _max_age(response.headers.get("cache-control"))
            log.info("auth.keys_fetched", count=len(self._keys))

    async def _fetch(self) -> httpx.Response:
        if self._client is not None:
            return await self._client.get(self._url)
        async with httpx.AsyncClient(timeout=10.0) as client:
            return await client.get(self._url)


def _max_age(cache_control: str | None) -> float:
    match = _MAX_AGE.search(cache_control or "")
    return float(match.group(1)) if match else _DEFAULT_TTL_SECONDS


def _parse_certificates(payload: object) -> dict[str, RSAPublicKey]:
    if not isinstance(payload, dict):
        raise ValueError("key document is not a JSON object")
    keys: dict[str, RSAPublicKey] = {}
    for kid, pem in payload.items():
        certificate = x509.load_pem_x509_certificate(str(pem).encode())
        public_key = certificate.public_key()
        if isinstance(public_key, RSAPublicKey):
            keys[str(kid)] = public_key
    return keys
