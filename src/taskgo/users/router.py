"""`/api/me`: the caller's profile."""

from __future__ import annotations

from fastapi import APIRouter

from taskgo.auth.deps import CurrentUser
from taskgo.db.session import DbSession
from taskgo.users.schemas import MeOut, MeUpdateIn
from taskgo.users.service import me_view, update_profile

router = APIRouter(prefix="/api", tags=["users"])


@router.get("/me", response_model=MeOut)
async def get_me(user: CurrentUser, session: DbSession) -> MeOut:
    return await me_view(session, user)


@router.patch("/me", response_model=MeOut)
async def patch_me(body: MeUpdateIn, user: CurrentUser, session: DbSession) -> MeOut:
    await update_profile(session, user=user, changes=body)
    return await me_view(session, user)
