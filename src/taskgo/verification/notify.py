"""Tell the partner about the admin's decision (in-app notification and push)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.users.models import User
from taskgo.verification.models import SubmissionStatus, VerificationSubmission


async def notify_decision(
    session: AsyncSession, *, partner: User, submission: VerificationSubmission
) -> None:
    """Queue the notification in the decision's transaction, so it goes out only if the
    decision commits."""
    from taskgo.notifications.service import notify

    approved = submission.status == SubmissionStatus.APPROVED
    kind = "verification_approved" if approved else "verification_rejected"
    await notify(
        session,
        user_id=partner.id,
        kind=kind,
        title_key=f"push.{kind}.title",
        body_key=f"push.{kind}.body",
        params={"reason": submission.rejection_reason or ""},
        data={"submissionId": str(submission.id), "status": submission.status},
    )
