"""HTTP routes: a partner's own bank accounts, the bank list, and the admin review queue."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from taskgo.auth.deps import AdminUser, PartnerUser
from taskgo.bank_accounts import review, service
from taskgo.bank_accounts.banks import list_banks
from taskgo.bank_accounts.models import ReviewStatus
from taskgo.bank_accounts.presenters import present, present_for_admin
from taskgo.bank_accounts.schemas import (
    BankAccountAdminOut,
    BankAccountCreate,
    BankAccountOut,
    BankOut,
    ReviewDecision,
)
from taskgo.db.session import DbSession
from taskgo.idempotency import IdempotencyKey, claim, remember
from taskgo.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

router = APIRouter(prefix="/api", tags=["bank accounts"])
admin_router = APIRouter(prefix="/api/admin", tags=["admin"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "The caller is not a partner (`auth.role_required`)."},
    404: {"description": "No such account of the caller (`bank_account.not_found`)."},
    409: {
        "description": "`bank_account.duplicate`, `bank_account.pix_key_duplicate`, "
        "`bank_account.limit_reached`, `bank_account.primary_delete_forbidden`, "
        "`bank_account.rejected_not_primary`, `bank_account.primary_conflict` (retry)."
    },
    422: {"description": "Invalid field; `details.field` and `details.errors` name each one."},
}


@router.get("/banks", response_model=list[BankOut])
async def get_banks(user: PartnerUser) -> list[BankOut]:
    return [BankOut.model_validate(bank) for bank in list_banks()]


@router.post("/bank-accounts", status_code=201, response_model=BankAccountOut, responses=_ERRORS)
async def create_bank_account(
    body: BankAccountCreate,
    user: PartnerUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> BankAccountOut | JSONResponse:
    claimed = await claim(
        session,
        user_id=user.id,
        scope="bank_accounts.create",
        key=idempotency_key,
        payload=service.idempotency_payload(body),
    )
    if claimed.replay:
        return claimed.replay

    account = await service.create_bank_account(session, user=user, data=body)
    view = present(account)
    await remember(session, claimed, status_code=201, body=view.model_dump(mode="json"))
    return view


@router.get("/bank-accounts", response_model=Page[BankAccountOut])
async def list_bank_accounts(
    user: PartnerUser,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[BankAccountOut]:
    rows, next_cursor = await service.list_bank_accounts(
        session, user_id=user.id, cursor=cursor, limit=limit
    )
    return Page[BankAccountOut](items=[present(row) for row in rows], next_cursor=next_cursor)


@router.delete("/bank-accounts/{account_id}", status_code=204, responses=_ERRORS)
async def delete_bank_account(
    account_id: uuid.UUID, user: PartnerUser, session: DbSession
) -> Response:
    await service.delete_bank_account(session, user=user, account_id=account_id)
    return Response(status_code=204)


@router.put(
    "/bank-accounts/{account_id}/set-primary",
    response_model=BankAccountOut,
    responses=_ERRORS,
)
async def set_primary_bank_account(
    account_id: uuid.UUID, user: PartnerUser, session: DbSession
) -> BankAccountOut:
    account = await service.set_primary(session, user=user, account_id=account_id)
    return present(account)


@admin_router.get("/bank-accounts", response_model=Page[BankAccountAdminOut])
async def list_bank_accounts_for_review(
    admin: AdminUser,
    session: DbSession,
    status: ReviewStatus = Query(default=ReviewStatus.PENDING_REVIEW),
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[BankAccountAdminOut]:
    rows, next_cursor = await review.list_for_review(
        session, status=status, cursor=cursor, limit=limit
    )
    return Page[BankAccountAdminOut](
        items=[present_for_admin(row) for row in rows], next_cursor=next_cursor
    )


@admin_router.post(
    "/bank-accounts/{account_id}/review",
    response_model=BankAccountAdminOut,
    responses=_ERRORS,
)
async def review_bank_account(
    account_id: uuid.UUID, body: ReviewDecision, admin: AdminUser, session: DbSession
) -> BankAccountAdminOut:
    account = await review.decide_review(
        session, admin=admin, account_id=account_id, approve=body.approve, note=body.note
    )
    return present_for_admin(account)
