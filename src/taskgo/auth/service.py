"""Turn a bearer token into a user: verify it, then find or create the user row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.auth.dev import DevIssuer
from taskgo.auth.keys import HttpCertificateSource, KeySource, StaticKeySource
from taskgo.auth.tokens import TokenVerifier, VerifiedToken
from taskgo.config import Settings
from taskgo.db.session import session_scope
from taskgo.errors import AppError
from taskgo.users.models import Role, User
from taskgo.users.schemas import NAME_FORBIDDEN_CHARACTERS

log = structlog.get_logger(__name__)

# Roles a token may ask for when it creates a user; admin is granted only by the CLI.
_SELF_SERVICE_ROLES = {Role.CLIENT.value, Role.PARTNER.value}


@dataclass
class AuthState:
    verifier: TokenVerifier | None = None
    dev_issuer: DevIssuer | None = None


_state = AuthState()


def configure_auth(settings: Settings, *, key_source: KeySource | None = None) -> None:
    """Build the verifier for the configured provider; called once at start-up."""
    if settings.auth_provider == "dev":
        issuer = DevIssuer.load_or_create(
            settings.dev_signing_key_path, project_id=settings.firebase_project_id
        )
        _state.dev_issuer = issuer
        source: KeySource = key_source or StaticKeySource({issuer.kid: issuer.public_key})
    else:
        _state.dev_issuer = None
        source = key_source or HttpCertificateSource(
            settings.firebase_keys_url,
            refetch_interval=settings.auth_key_refetch_interval_seconds,
        )
    _state.verifier = TokenVerifier(
        project_id=settings.firebase_project_id,
        keys=source,
        clock_skew=settings.auth_clock_skew_seconds,
    )


def dev_issuer() -> DevIssuer | None:
    return _state.dev_issuer


def _verifier() -> TokenVerifier:
    if _state.verifier is None:
        raise RuntimeError("auth not configured: call configure_auth() at start-up")
    return _state.verifier


# Built once: every authenticated request runs it, and a statement built per call made
# SQLAlchemy compute its cache key each time.
_USER_BY_UID = select(User).where(User.firebase_uid == bindparam("uid"))


def _claim_text(claims: dict[str, Any], key: str, *, max_length: int) -> str | None:
    """Return a text claim that fits its column, or None (PostgreSQL text cannot hold NUL)."""
    value = claims.get(key)
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        return None
    return value


async def get_or_create_user(session: AsyncSession, verified: VerifiedToken) -> User:
    user = await session.scalar(_USER_BY_UID, {"uid": verified.uid})
    if user is not None:
        return user

    claims = verified.claims
    requested_role = claims.get("role")
    role = requested_role if requested_role in _SELF_SERVICE_ROLES else Role.CLIENT.value
    if _state.dev_issuer is not None and requested_role == Role.ADMIN.value:
        role = Role.ADMIN.value
    raw_name = claims.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    # Firebase lets each user set their own display name, so it may contain any text.
    name = NAME_FORBIDDEN_CHARACTERS.sub("", name).strip()[:200]
    email = _claim_text(claims, "email", max_length=320)
    phone = _claim_text(claims, "phone_number", max_length=32)
    await session.execute(
        insert(User)
        .values(firebase_uid=verified.uid, role=role, name=name, email=email, phone=phone)
        .on_conflict_do_nothing(index_elements=[User.firebase_uid])
    )
    user = await session.scalar(_USER_BY_UID, {"uid": verified.uid})
    if user is None:  # pragma: no cover - the insert above or a concurrent one created it
        raise AppError("auth.user_unavailable", status=503)
    log.info("auth.user_created", user_id=str(user.id), role=user.role)
    return user


async def authenticate(session: AsyncSession, token: str) -> tuple[User, VerifiedToken]:
    verified = await _verifier().verify(token)
    return await get_or_create_user(session, verified), verified


async def verify_token(token: str) -> User:
    """Authenticate outside a request (Socket.IO connect) in a short transaction of its own."""
    user, _ = await authenticate_with_expiry(token)
    return user


async def authenticate_with_expiry(token: str) -> tuple[User, VerifiedToken]:
    async with session_scope() as session:
        return await authenticate(session, token)
