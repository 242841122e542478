"""HTTP routes for partners: submit identity images and read the verification status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from taskgo.auth.deps import PartnerUser
from taskgo.db.session import DbSession
from taskgo.idempotency import IdempotencyKey, claim, remember
from taskgo.verification import service
from taskgo.verification.schemas import StatusOut, SubmitIn, SubmittedOut

router = APIRouter(prefix="/api/verification", tags=["verification"])


@router.post(
    "/submit",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubmittedOut,
    responses={409: {"description": "Already verified, or a submission is pending."}},
)
async def submit(
    body: SubmitIn,
    user: PartnerUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Submit the document front, back and a selfie (upload ids). The analysis runs in the
    background and the status stays `pending` until an admin decides."""
    claimed = await claim(
        session,
        user_id=user.id,
        scope="verification.submit",
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    if claimed.replay is not None:
        return claimed.replay

    submission = await service.submit(session, user=user, body=body)
    out = SubmittedOut(id=submission.id, status=submission.status).model_dump(mode="json")
    await remember(session, claimed, status_code=status.HTTP_202_ACCEPTED, body=out)
    return JSONResponse(status_code=status.HTTP_202_ACCEPTED, content=out)


@router.get("/status", response_model=StatusOut)
async def get_status(user: PartnerUser, session: DbSession) -> StatusOut:
    """Return the partner's verification status, the admin's reason after a rejection,
    and the fields read from the document once the analysis has run (CPF masked)."""
    return await service.status_view(session, user=user)
