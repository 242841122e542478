"""Firebase ID token checks, with keys fetched from a local certificate server."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from taskgo.auth.keys import HttpCertificateSource
from taskgo.auth.tokens import TokenVerifier
from taskgo.errors import AppError
from tests.auth.keyserver import KeyServer

PROJECT = "taskgo-test"
ISSUER = f"https://securetoken.google.com/{PROJECT}"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    with KeyServer() as server:
        server.add_key("key-1", KEY)
        yield server


@pytest.fixture
def verifier(key_server: KeyServer) -> TokenVerifier:
    return TokenVerifier(
        project_id=PROJECT,
        keys=HttpCertificateSource(key_server.url, refetch_interval=30.0),
        clock_skew=60,
    )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": PROJECT,
        "sub": "firebase-uid-1",
        "iat": now - 10,
        "auth_time": now - 10,
        "exp": now + 3600,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def sign(
    payload: dict[str, Any], *, kid: str | None = "key-1", key: rsa.RSAPrivateKey = KEY
) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm="RS256", headers=headers)


async def rejection_code(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AppError) as caught:
        await verifier.verify(token)
    assert caught.value.status == 401
    return caught.value.code


async def test_valid_token_accepted(verifier: TokenVerifier) -> None:
    verified = await verifier.verify(sign(claims()))
    assert verified.uid == "firebase-uid-1"


async def test_keys_cached_for_max_age(verifier: TokenVerifier, key_server: KeyServer) -> None:
    await verifier.verify(sign(claims()))
    await verifier.verify(sign(claims(sub="another")))
    assert key_server.requests == 1


async def test_expired_token_rejected(verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = sign(claims(exp=now - 61, iat=now - 4000, auth_time=now - 4000))
    assert await rejection_code(verifier, token) == "auth.token_expired"


async def test_expiry_within_skew_accepted(verifier: TokenVerifier) -> None:
    now = int(time.time())
    verified = await verifier.verify(
        sign(claims(exp=now - 30, iat=now - 4000, auth_time=now - 4000))
    )
    assert verified.uid == "firebase-uid-1"


async def test_issued_in_future_rejected(verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = sign(claims(iat=now + 120, auth_time=now - 10))
    assert await rejection_code(verifier, token) == "auth.token_issued_in_future"


async def test_auth_time_in_future_rejected(verifier: TokenVerifier) -> None:
    token = sign(claims(auth_time=int(time.time()) + 120))
    assert await rejection_code(verifier, token) == "auth.invalid_auth_time"


async def test_missing_auth_time_rejected(verifier: TokenVerifier) -> None:
    payload = claims()
    del payload["auth_time"]
    assert await rejection_code(verifier, sign(payload)) == "auth.invalid_auth_time"


async def test_wrong_audience_rejected(verifier: TokenVerifier) -> None:
    assert (
        await rejection_code(verifier, sign(claims(aud="other-project"))) == "auth.wrong_audience"
    )


async def test_wrong_issuer_rejected(verifier: TokenVerifier) -> None:
    token = sign(claims(iss="https://securetoken.google.com/other-project"))
    assert await rejection_code(verifier, token) == "auth.wrong_issuer"


async def test_empty_subject_rejected(verifier: TokenVerifier) -> None:
    assert await rejection_code(verifier, sign(claims(sub=""))) == "auth.invalid_subject"


async def test_long_subject_rejected(verifier: TokenVerifier) -> None:
    assert await rejection_code(verifier, sign(claims(sub="u" * 129))) == "auth.invalid_subject"


async def test_subject_of_128_accepted(verifier: TokenVerifier) -> None:
    verified = await verifier.verify(sign(claims(sub="u" * 128)))
    assert len(verified.uid) == 128


async def test_missing_kid_rejected(verifier: TokenVerifier) -> None:
    assert await rejection_code(verifier, sign(claims(), kid=None)) == "auth.missing_kid"


async def test_unknown_kid_refetches_once(verifier: TokenVerifier, key_server: KeyServer) -> None:
    await verifier.verify(sign(claims()))
    assert key_server.requests == 1

    assert await rejection_code(verifier, sign(claims(), kid="made-up-1")) == "auth.unknown_kid"
    assert key_server.requests == 2
    assert await rejection_code(verifier, sign(claims(), kid="made-up-2")) == "auth.unknown_kid"
    assert key_server.requests == 2  # rate-limited: no second refetch within the interval


async def test_rotated_key_picked_up(verifier: TokenVerifier, key_server: KeyServer) -> None:
    await verifier.verify(sign(claims()))
    key_server.add_key("key-2", OTHER_KEY)
    verified = await verifier.verify(sign(claims(sub="rotated"), kid="key-2", key=OTHER_KEY))
    assert verified.uid == "rotated"


async def test_alg_none_rejected(verifier: TokenVerifier) -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "key-1"}).encode()).rstrip(
        b"="
    )
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    token = (header + b"." + body + b".").decode()
    assert await rejection_code(verifier, token) == "auth.unsupported_algorithm"


async def test_hs256_with_public_key_rejected(verifier: TokenVerifier) -> None:
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "HS256", "kid": "key-1", "typ": "JWT"}).encode()
    ).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    import hashlib
    import hmac

    signature = hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    token = b".".join([header, body, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()
    assert await rejection_code(verifier, token) == "auth.unsupported_algorithm"


async def test_tampered_payload_rejected(verifier: TokenVerifier) -> None:
    header, _, signature = sign(claims()).split(".")
    forged = (
        base64.urlsafe_b64encode(json.dumps(claims(sub="admin-uid")).encode()).rstrip(b"=").decode()
    )
    assert (
        await rejection_code(verifier, f"{header}.{forged}.{signature}") == "auth.invalid_signature"
    )


async def test_signed_by_other_key_rejected(verifier: TokenVerifier) -> None:
    token = sign(claims(), kid="key-1", key=OTHER_KEY)
    assert await rejection_code(verifier, token) == "auth.invalid_signature"


async def test_garbage_token_rejected(verifier: TokenVerifier) -> None:
    assert await rejection_code(verifier, "not-a-jwt") == "auth.malformed_token"


async def test_key_outage_keeps_expired_keys(key_server: KeyServer) -> None:
    key_server.max_age = 0  # every fetch is already expired
    verifier = TokenVerifier(
        project_id=PROJECT,
        keys=HttpCertificateSource(key_server.url, refetch_interval=30.0),
        clock_skew=60,
    )
    await verifier.verify(sign(claims()))
    key_server.status = 503

    # Distinct tokens: a token verified before would come from the verifier's cache.
    results = await asyncio.gather(
        *(verifier.verify(sign(claims(sub=f"user-{index}"))) for index in range(10))
    )

    assert [result.uid for result in results] == [f"user-{index}" for index in range(10)]
    # Each request refetched in turn before, so ten requests waited for ten failing fetches.
    assert key_server.requests == 2


async def test_cached_token_still_expires(key_server: KeyServer) -> None:
    verifier = TokenVerifier(
        project_id=PROJECT,
        keys=HttpCertificateSource(key_server.url, refetch_interval=30.0),
        clock_skew=0,
    )
    now = int(time.time())
    token = sign(claims(exp=now + 2))

    first = await verifier.verify(token)
    again = await verifier.verify(token)
    assert again is first
    await asyncio.sleep(now + 2.2 - time.time())
    assert await rejection_code(verifier, token) == "auth.token_expired"


async def test_verified_tokens_kept_up_to_cache_size(key_server: KeyServer) -> None:
    verifier = TokenVerifier(
        project_id=PROJECT,
        keys=HttpCertificateSource(key_server.url, refetch_interval=30.0),
        cache_size=2,
    )
    tokens = [sign(claims(sub=f"user-{index}")) for index in range(3)]
    results = [await verifier.verify(token) for token in tokens]

    assert await verifier.verify(tokens[2]) is results[2]
    assert await verifier.verify(tokens[1]) is results[1]
    # The oldest one was dropped: checking it again gives an equal, new result.
    again = await verifier.verify(tokens[0])
    assert again is not results[0]
    assert again == results[0]
