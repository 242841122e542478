"""Google's OAuth2 side of the FCM stand-in: the service account key and access tokens.

The token endpoint accepts the JWT-bearer grant (RFC 7523) that `google-auth` sends for a
service account: an RS256 assertion signed with the account's private key, issued by the
account's e-mail, addressed to Google's token audience, asking for a scope.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.standins.fcm_failures import error_body

# google-auth always addresses the assertion to this audience, whatever token_uri is.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME_SECONDS = 3600
ACCEPTED_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/firebase.messaging",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)

Answer = tuple[int, dict[str, Any], tuple[tuple[str, str], ...]]


@dataclass(slots=True)
class _IssuedToken:
    expires_at: float
    scopes: frozenset[str]


def _grant_error(code: str, description: str) -> Answer:
    return 400, {"error": code, "error_description": description}, ()


class OAuthIssuer:
    """Holds one service account key and the access tokens issued for it."""

    def __init__(self, *, project_id: str, access_token_lifetime: int = 3600) -> None:
        self.project_id = project_id
        self.access_token_lifetime = access_token_lifetime
        self.client_email = f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com"
        self.token_requests = 0
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._key_id = secrets.token_hex(20)
        self._issued: dict[str, _IssuedToken] = {}

    def service_account_info(self, *, token_uri: str) -> dict[str, str]:
        """The key file the Firebase console would download for this project."""
        private_pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self._key_id,
            "private_key": private_pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }

    def revoke_all(self) -> None:
        self._issued.clear()

    def handle_token_request(self, *, content_type: str, body: bytes) -> Answer:
        self.token_requests += 1
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return 400, {"error": "invalid_request", "error_description": "Expected a form."}, ()
        form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return _grant_error(
                "unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}"
            )

        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
                issuer=self.client_email,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as error:
            return _grant_error("invalid_grant", f"Invalid JWT: {error}")
        if header.get("kid") != self._key_id:
            return _grant_error("invalid_grant", "Invalid JWT Signature.")
        if int(claims["exp"]) - int(claims["iat"]) > MAX_ASSERTION_LIFETIME_SECONDS:
            return _grant_error("invalid_grant", "Invalid JWT: lifetime longer than one hour.")

        access_token = f"ya29.standin-{secrets.token_urlsafe(48)}"
        self._issued[access_token] = _IssuedToken(
            expires_at=time.time() + self.access_token_lifetime,
            scopes=frozenset(str(claims.get("scope", "")).split()),
        )
        answer = {
            "access_token": access_token,
            "expires_in": self.access_token_lifetime,
            "token_type": "Bearer",
        }
        return 200, answer, ()

    def check_access(self, authorization: str | None) -> Answer | None:
        """Return the error response for a missing, unknown, expired or under-scoped token."""
        if not authorization or not authorization.startswith("Bearer "):
            text = (
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential."
            )
            challenge = 'Bearer realm="https://accounts.google.com/"'
            return 401, error_body(401, "UNAUTHENTICATED", text), (("www-authenticate", challenge),)

        issued = self._issued.get(authorization.removeprefix("Bearer "))
        if issued is None or issued.expires_at <= time.time():
            text = (
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential."
            )
            challenge = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
            return 401, error_body(401, "UNAUTHENTICATED", text), (("www-authenticate", challenge),)

        if not issued.scopes & ACCEPTED_SCOPES:
            text = "Request had insufficient authentication scopes."
            return 403, error_body(403, "PERMISSION_DENIED", text), ()
        return None
