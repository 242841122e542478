"""Console page listing the audit log, newest first."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from taskgo.admin.pages.rendering import render
from taskgo.admin.pages.session import ensure_csrf_cookie, page_admin
from taskgo.admin.service import list_audit_entries
from taskgo.db.session import DbSession
from taskgo.users.models import User

router = APIRouter()

AUDIT_PAGE_SIZE = 50
# Audit ids are PostgreSQL bigints; a larger `before` would fail in the database.
MAX_AUDIT_ID = 2**63 - 1

# Actions with a translated label (`admin.audit.action.<action>`). An action missing here
# is shown by its code.
LABELLED_ACTIONS = frozenset(
    {
        "admin.signed_in",
        "bank_account.approved",
        "bank_account.created",
        "bank_account.deleted",
        "bank_account.holder_rechecked",
        "bank_account.primary_set",
        "bank_account.rejected",
        "purchase.dispute_refund",
        "purchase.dispute_release",
        "support.agent_replied",
        "support.flag_resolved",
        "tracking.event_added",
        "user.grant_admin",
        "verification.approved",
        "verification.rejected",
    }
)


def action_label_key(action: str) -> str | None:
    return f"admin.audit.action.{action}" if action in LABELLED_ACTIONS else None


@router.get("/audit")
async def audit_log(
    request: Request,
    session: DbSession,
    before: Annotated[int | None, Query(ge=1, le=MAX_AUDIT_ID)] = None,
) -> Response:
    admin = await page_admin(request, session)
    if isinstance(admin, Response):
        return admin

    entries = await list_audit_entries(session, before_id=before, limit=AUDIT_PAGE_SIZE + 1)
    has_more = len(entries) > AUDIT_PAGE_SIZE
    entries = entries[:AUDIT_PAGE_SIZE]

    actor_ids = {entry.actor_id for entry in entries if entry.actor_id is not None}
    actors: dict[uuid.UUID, User] = {}
    if actor_ids:
        rows = await session.scalars(select(User).where(User.id.in_(actor_ids)))
        actors = {user.id: user for user in rows}

    rows_out: list[dict[str, Any]] = [
        {
            "entry": entry,
            "actor": actors.get(entry.actor_id) if entry.actor_id else None,
            "label_key": action_label_key(entry.action),
            "link": (
                f"/admin/verifications/{entry.target_id}"
                if entry.target_type == "verification_submission"
                else None
            ),
        }
        for entry in entries
    ]
    response = render(
        request,
        "audit.html",
        {"rows": rows_out, "next_before": entries[-1].id if has_more and entries else None},
    )
    ensure_csrf_cookie(request, response)
    return response
