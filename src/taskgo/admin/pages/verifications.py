"""Console pages for identity verification: the queue, one submission, the decision."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.pages.rendering import render
from taskgo.admin.pages.session import csrf_failure, csrf_valid, ensure_csrf_cookie, page_admin
from taskgo.db.session import DbSession
from taskgo.errors import AppError
from taskgo.uploads import service as uploads
from taskgo.uploads.router import file_response
from taskgo.users.models import User
from taskgo.verification import review
from taskgo.verification.checks import CHECK_NAMES
from taskgo.verification.models import SubmissionStatus

router = APIRouter()

QUEUE_PAGE_SIZE = 25
_DONE_MESSAGES = {"approved": "admin.flash.approved", "rejected": "admin.flash.rejected"}


def _parse_status(value: str | None) -> SubmissionStatus:
    try:
        return SubmissionStatus(value or SubmissionStatus.PENDING)
    except ValueError:
        return SubmissionStatus.PENDING


def checks_summary(analysis: dict[str, Any]) -> tuple[int, int]:
    """Return (passed, total) of a stored analysis's checks."""
    checks = analysis.get("checks") or {}
    return sum(bool(checks.get(name)) for name in CHECK_NAMES), len(CHECK_NAMES)


@router.get("/verifications")
async def queue(
    request: Request,
    session: DbSession,
    status: str | None = None,
    cursor: str | None = None,
    done: str | None = None,
) -> Response:
    admin = await page_admin(request, session)
    if isinstance(admin, Response):
        return admin
    chosen = _parse_status(status)
    try:
        rows, next_cursor = await review.list_submissions(
            session, status=chosen, cursor=cursor, limit=QUEUE_PAGE_SIZE
        )
    except AppError:
        # A malformed cursor starts the list from the beginning.
        rows, next_cursor = await review.list_submissions(
            session, status=chosen, cursor=None, limit=QUEUE_PAGE_SIZE
        )
    items = [
        {
            "submission": submission,
            "partner": partner,
            "summary": checks_summary(submission.analysis),
        }
        for submission, partner in rows
    ]
    response = render(
        request,
        "queue.html",
        {
            "items": items,
            "status": chosen.value,
            "statuses": [item.value for item in SubmissionStatus],
            "next_cursor": next_cursor,
            "flash": _DONE_MESSAGES.get(done or ""),
        },
    )
    ensure_csrf_cookie(request, response)
    return response


async def _detail_page(
    request: Request,
    session: AsyncSession,
    submission_id: uuid.UUID,
    *,
    error: str | None = None,
    error_params: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        detail = await review.get_detail(session, submission_id)
    except AppError:
        return render(
            request,
            "error.html",
            {"title": "admin.error.not_found_title", "message": "admin.error.not_found"},
            status_code=404,
        )
    analysis = detail.submission.analysis
    checks = analysis.get("checks") or {}
    response = render(
        request,
        "submission.html",
        {
            "detail": detail,
            "submission": detail.submission,
            "partner": detail.partner,
            "analysis": analysis,
            "checks": [(name, checks.get(name)) for name in CHECK_NAMES],
            "summary": checks_summary(analysis),
            "images": [
                ("documentFront", detail.document_front),
                ("documentBack", detail.document_back),
                ("selfie", detail.selfie),
            ],
            "error": error,
            "error_params": error_params or {},
            "form": form or {},
            "reason_min": review.REASON_MIN_LENGTH,
            "reason_max": review.REASON_MAX_LENGTH,
        },
        status_code=status_code,
    )
    ensure_csrf_cookie(request, response)
    return response


@router.get("/verifications/{submission_id}")
async def detail(submission_id: uuid.UUID, request: Request, session: DbSession) -> Response:
    admin = await page_admin(request, session)
    if isinstance(admin, Response):
        return admin
    return await _detail_page(request, session, submission_id)


async def _decide(
    request: Request, session: AsyncSession, submission_id: uuid.UUID, *, approve: bool
) -> Response:
    admin = await page_admin(request, session)
    if isinstance(admin, Response):
        return admin
    form = await request.form()
    if not csrf_valid(request, form):
        return csrf_failure(request)
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        await _apply_decision(session, submission_id, admin=admin, approve=approve, form=values)
    except AppError as exc:
        status_code = exc.status if exc.status in (404, 409, 422) else 422
        return await _detail_page(
            request,
            session,
            submission_id,
            error=exc.code,
            error_params=exc.params,
            form=values,
            status_code=status_code,
        )
    outcome = "approved" if approve else "rejected"
    return RedirectResponse(f"/admin/verifications?done={outcome}", status_code=303)


async def _apply_decision(
    session: AsyncSession,
    submission_id: uuid.UUID,
    *,
    admin: User,
    approve: bool,
    form: dict[str, str],
) -> None:
    # A savepoint, so a rejected decision (409, 422) leaves nothing half-written before
    # the detail page is rendered again in the same transaction.
    async with session.begin_nested():
        if approve:
            await review.approve(
                session, submission_id=submission_id, admin=admin, cpf_input=form.get("cpf")
            )
        else:
            await review.reject(
                session, submission_id=submission_id, admin=admin, reason=form.get("reason")
            )


@router.post("/verifications/{submission_id}/approve")
async def approve(submission_id: uuid.UUID, request: Request, session: DbSession) -> Response:
    return await _decide(request, session, submission_id, approve=True)


@router.post("/verifications/{submission_id}/reject")
async def reject(submission_id: uuid.UUID, request: Request, session: DbSession) -> Response:
    return await _decide(request, session, submission_id, approve=False)


@router.get("/uploads/{upload_id}")
async def upload_file(upload_id: uuid.UUID, request: Request, session: DbSession) -> Response:
    """Serve any upload, private ones included, to a signed-in admin."""
    admin = await page_admin(request, session)
    if isinstance(admin, Response):
        return admin
    try:
        upload = await uploads.get_upload(session, upload_id)
        data = await uploads.read_file(upload)
    except AppError as exc:
        return Response(status_code=exc.status, headers={"X-Content-Type-Options": "nosniff"})
    return file_response(upload, data, request=request)
