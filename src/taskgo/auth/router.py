"""`POST /api/auth/dev/token`: only mounted when AUTH_PROVIDER=dev."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from taskgo.auth.schemas import DevTokenIn, DevTokenOut
from taskgo.auth.service import dev_issuer
from taskgo.config import get_settings
from taskgo.db.session import DbSession
from taskgo.errors import AppError
from taskgo.users.models import User
from taskgo.users.service import me_view

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/dev/token", response_model=DevTokenOut)
async def issue_dev_token(body: DevTokenIn, session: DbSession) -> DevTokenOut:
    """Sign a Firebase-shaped token for `uid` and create or update that user (dev mode only)."""
    issuer = dev_issuer()
    if issuer is None:
        raise AppError("request.not_found", status=404)

    await session.execute(
        insert(User)
        .values(firebase_uid=body.uid, role=body.role, name=body.name)
        .on_conflict_do_update(
            index_elements=[User.firebase_uid],
            set_={"role": body.role, **({"name": body.name} if body.name else {})},
        )
    )
    user = await session.scalar(
        select(User).where(User.firebase_uid == body.uid).execution_options(populate_existing=True)
    )
    assert user is not None
    token = issuer.issue(
        uid=body.uid,
        role=body.role,
        name=body.name or user.name,
        ttl_seconds=get_settings().dev_token_ttl_seconds,
    )
    return DevTokenOut(token=token, user=await me_view(session, user))
