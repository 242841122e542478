"""HTTP routes of purchases: create, read, ship, confirm delivery, cancel, dispute."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from taskgo.auth.deps import AdminUser, ClientUser, CurrentUser
from taskgo.db.session import DbSession
from taskgo.errors import AppError
from taskgo.idempotency import IdempotencyKey, claim, remember
from taskgo.pagination import Cursor, Limit, Page
from taskgo.payments import ledger_store
from taskgo.purchases import service, transitions
from taskgo.purchases.models import Purchase
from taskgo.purchases.schemas import (
    DisputeIn,
    PurchaseCreateIn,
    PurchaseOut,
    ResolveDisputeIn,
    ShipIn,
    purchase_out,
)
from taskgo.schemas import ApiModel

router = APIRouter(prefix="/api/purchases", tags=["purchases"])
admin_router = APIRouter(prefix="/api/admin/purchases", tags=["admin"])


async def _render(session: DbSession, purchase: Purchase, *, viewer_id: uuid.UUID) -> PurchaseOut:
    # `updated_at` is set by the database on UPDATE, so it is read back after the flush.
    await session.flush()
    await session.refresh(purchase, attribute_names=["updated_at", "created_at"])
    return purchase_out(purchase, viewer_id=viewer_id)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PurchaseOut)
async def create_purchase(
    body: PurchaseCreateIn,
    buyer: ClientUser,
    session: DbSession,
    idempotency_key: IdempotencyKey = None,
) -> PurchaseOut | JSONResponse:
    """Order products of one seller; prices come from the catalog. Pay with `clientSecret`.

    Apps should send `Idempotency-Key`, so a retried order does not reserve stock twice;
    without it every request is a new order.
    """
    claimed = await claim(
        session,
        user_id=buyer.id,
        scope="purchases.create",
        key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    if claimed.replay is not None:
        return claimed.replay
    purchase = await service.create_purchase(session, buyer=buyer, data=body)
    result = await _render(session, purchase, viewer_id=buyer.id)
    await remember(session, claimed, status_code=201, body=result.model_dump(mode="json"))
    return result


@router.get("", response_model=Page[PurchaseOut])
async def list_purchases(
    user: CurrentUser,
    session: DbSession,
    role: Literal["buyer", "seller"] | None = Query(default=None),
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[PurchaseOut]:
    rows, next_cursor = await service.page_purchases_for_user(
        session, user=user, role=role, cursor=cursor, limit=limit
    )
    return Page[PurchaseOut](
        items=[purchase_out(row, viewer_id=user.id) for row in rows], next_cursor=next_cursor
    )


@router.get("/{purchase_id}", response_model=PurchaseOut)
async def get_purchase(
    purchase_id: uuid.UUID, user: CurrentUser, session: DbSession
) -> PurchaseOut:
    purchase = await service.get_purchase_for_participant(
        session, purchase_id=purchase_id, user=user
    )
    return await _render(session, purchase, viewer_id=user.id)


@router.post("/{purchase_id}/ship", response_model=PurchaseOut)
async def ship(
    purchase_id: uuid.UUID, body: ShipIn, user: CurrentUser, session: DbSession
) -> PurchaseOut:
    """Seller: register the Correios tracking code (S10, with a valid check digit)."""
    purchase = await transitions.do_ship(
        session, purchase_id=purchase_id, seller=user, tracking_code=body.tracking_code
    )
    return await _render(session, purchase, viewer_id=user.id)


@router.post("/{purchase_id}/confirm-delivery", response_model=PurchaseOut)
async def confirm_delivery(
    purchase_id: uuid.UUID, user: CurrentUser, session: DbSession
) -> PurchaseOut:
    """Buyer: confirm receipt; the escrow is released unless a dispute holds it."""
    purchase = await transitions.do_confirm_delivery(session, purchase_id=purchase_id, buyer=user)
    return await _render(session, purchase, viewer_id=user.id)


@router.post("/{purchase_id}/cancel", response_model=PurchaseOut)
async def cancel(purchase_id: uuid.UUID, user: CurrentUser, session: DbSession) -> PurchaseOut:
    """Buyer or seller, before shipping: full refund and stock returned."""
    purchase = await transitions.do_cancel(
        session,
        purchase_id=purchase_id,
        user=user,
        reason="buyer_canceled"
        if await _is_buyer(session, purchase_id, user)
        else "seller_canceled",
    )
    return await _render(session, purchase, viewer_id=user.id)


async def _is_buyer(session: DbSession, purchase_id: uuid.UUID, user: CurrentUser) -> bool:
    purchase = await service.get_purchase_for_participant(
        session, purchase_id=purchase_id, user=user
    )
    return purchase.buyer_id == user.id


@router.post("/{purchase_id}/dispute", response_model=PurchaseOut)
async def open_dispute(
    purchase_id: uuid.UUID, body: DisputeIn, user: CurrentUser, session: DbSession
) -> PurchaseOut:
    """Buyer: report a problem; the automatic release stops until an admin decides."""
    purchase = await transitions.do_open_dispute(
        session, purchase_id=purchase_id, buyer=user, reason=body.reason
    )
    return await _render(session, purchase, viewer_id=user.id)


class LedgerEntryOut(ApiModel):
    key: str
    kind: str
    account: str
    amount_cents: int
    external_ref: str | None


class LedgerOut(ApiModel):
    purchase_id: uuid.UUID
    entries: list[LedgerEntryOut]
    escrow_held_cents: int
    net_cents: int


@admin_router.post("/{purchase_id}/dispute/resolve", response_model=PurchaseOut)
async def resolve_dispute(
    purchase_id: uuid.UUID, body: ResolveDisputeIn, admin: AdminUser, session: DbSession
) -> PurchaseOut:
    purchase = await transitions.do_resolve_dispute(
        session, purchase_id=purchase_id, admin=admin, outcome=body.outcome, note=body.note
    )
    return await _render(session, purchase, viewer_id=admin.id)


@admin_router.get("/{purchase_id}/ledger", response_model=LedgerOut)
async def purchase_ledger(
    purchase_id: uuid.UUID, admin: AdminUser, session: DbSession
) -> LedgerOut:
    purchase = await session.get(Purchase, purchase_id)
    if purchase is None:
        raise AppError("purchase.not_found", status=404)
    transactions = await ledger_store.load_transactions(session, purchase_id)
    balances = await ledger_store.load_balances(session, purchase_id)
    return LedgerOut(
        purchase_id=purchase_id,
        entries=[
            LedgerEntryOut(
                key=t.key,
                kind=t.kind.value,
                account=p.account.value,
                amount_cents=p.amount,
                external_ref=t.external_ref,
            )
            for t in transactions
            for p in t.postings
        ],
        escrow_held_cents=balances.escrow_held,
        net_cents=balances.net,
    )
