"""FastAPI dependencies for the caller's identity and role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request

from taskgo.auth.service import authenticate
from taskgo.db.session import DbSession
from taskgo.errors import AppError
from taskgo.i18n import translate
from taskgo.users.models import User


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise AppError("auth.missing_token", status=401)
    if scheme.lower() != "bearer" or not token.strip():
        raise AppError("auth.malformed_header", status=401)
    return token.strip()


async def current_user(request: Request, session: DbSession) -> User:
    user, _ = await authenticate(session, bearer_token(request))
    structlog.contextvars.bind_contextvars(user_id=str(user.id))
    request.state.user_id = str(user.id)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def optional_user(request: Request, session: DbSession) -> User | None:
    """Return the caller when the request has an Authorization header, else None.

    A header that is present must be valid: a bad or expired token is still a 401.
    """
    if "authorization" not in request.headers:
        return None
    return await current_user(request, session)


OptionalUser = Annotated[User | None, Depends(optional_user)]


def require_role(*roles: str) -> Callable[..., Awaitable[User]]:
    """Dependency that lets only users with one of `roles` through (403 otherwise)."""

    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise AppError(
                "auth.role_required",
                status=403,
                details={"roles": list(roles)},
                roles=", ".join(translate(f"auth.role.{role}") for role in roles),
            )
        return user

    return check


PartnerUser = Annotated[User, Depends(require_role("partner"))]
ClientUser = Annotated[User, Depends(require_role("client"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]
