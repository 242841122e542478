"""Firebase ID token verification, with the checks Firebase documents for its tokens.

RS256 only; `kid` known; `aud` is the project id; `iss` is
`https://securetoken.google.com/<project id>`; `sub` non-empty and at most 128 characters;
`exp`, `iat` and `auth_time` within the allowed clock skew. Each failure is a 401 with its
own code.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from taskgo.auth.keys import KeySource
from taskgo.errors import AppError

ISSUER_PREFIX = "https://securetoken.google.com/"


@dataclass(frozen=True)
class VerifiedToken:
    uid: str
    claims: dict[str, Any]
    expires_at: int


def _reject(code: str) -> AppError:
    return AppError(code, status=401)


# A client sends the same ID token with every request for up to an hour. Keeping the result
# of a full check skips the RSA verification and claim parsing on the next ones.
VERIFIED_CACHE_SIZE = 4096


class TokenVerifier:
    def __init__(
        self,
        *,
        project_id: str,
        keys: KeySource,
        clock_skew: int = 60,
        cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        self.project_id = project_id
        self.issuer = ISSUER_PREFIX + project_id
        self._keys = keys
        self._skew = clock_skew
        self._cache_size = cache_size
        self._verified: OrderedDict[str, VerifiedToken] = OrderedDict()

    async def verify(self, token: str) -> VerifiedToken:
        """Check `token` fully, or return the earlier result for the same token while it has
        not expired (the only check whose outcome changes with time)."""
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() < cached.expires_at + self._skew:
                self._verified.move_to_end(token)
                return cached
            del self._verified[token]
        verified = await self._verify(token)
        self._verified[token] = verified
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return verified

    async def _verify(self, token: str) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _reject("auth.malformed_token") from None
        if header.get("alg") != "RS256":
            raise _reject("auth.unsupported_algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _reject("auth.missing_kid")
        key = await self._keys.get_key(kid)
        if key is None:
            raise _reject("auth.unknown_kid")

        claims = self._decode(token, key)
        now = time.time()
        auth_time = claims.get("auth_time")
        if not isinstance(auth_time, int | float) or isinstance(auth_time, bool):
            raise _reject("auth.invalid_auth_time")
        if auth_time > now + self._skew:
            raise _reject("auth.invalid_auth_time")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 128:
            raise _reject("auth.invalid_subject")
        return VerifiedToken(uid=subject, claims=claims, expires_at=int(claims["exp"]))

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.project_id,
                issuer=self.issuer,
                leeway=self._skew,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _reject("auth.token_expired") from None
        except jwt.ImmatureSignatureError:
            raise _reject("auth.token_issued_in_future") from None
        except jwt.InvalidAudienceError:
            raise _reject("auth.wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise _reject("auth.wrong_issuer") from None
        except jwt.MissingRequiredClaimError:
            raise _reject("auth.missing_claim") from None
        except jwt.InvalidSignatureError:
            raise _reject("auth.invalid_signature") from None
        except jwt.InvalidIssuedAtError:
            raise _reject("auth.token_issued_in_future") from None
        except jwt.PyJWTError:
            raise _reject("auth.malformed_token") from None
