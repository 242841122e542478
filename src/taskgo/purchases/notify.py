"""Notifications sent to buyers and sellers when a purchase changes: push and in-app
notifications, and the `purchase_updated` Socket.IO event, all sent after the commit."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.i18n import format_brl
from taskgo.purchases.models import Purchase
from taskgo.realtime import emit_after_commit, user_room
from taskgo.users.models import User


def announce(session: AsyncSession, purchase: Purchase) -> None:
    """Send `purchase_updated` to the buyer's and the seller's sockets after the commit."""
    payload = {"purchaseId": str(purchase.id), "status": purchase.status}
    for user_id in (purchase.buyer_id, purchase.seller_id):
        emit_after_commit(session, "purchase_updated", payload, room=user_room(user_id))


async def _locale(session: AsyncSession, user_id: uuid.UUID) -> str:
    return await session.scalar(select(User.locale).where(User.id == user_id)) or "pt_BR"


async def _send(
    session: AsyncSession,
    purchase: Purchase,
    *,
    user_id: uuid.UUID,
    event: str,
    params: dict[str, object] | None = None,
) -> None:
    from taskgo.notifications.service import notify

    await notify(
        session,
        user_id=user_id,
        kind=f"purchase_{event}",
        title_key=f"push.purchase_{event}.title",
        body_key=f"push.purchase_{event}.body",
        params={"purchase": str(purchase.id)[:8], **(params or {})},
        data={"purchaseId": str(purchase.id), "status": purchase.status},
    )


async def _amount(session: AsyncSession, user_id: uuid.UUID, centavos: int) -> str:
    return format_brl(centavos, await _locale(session, user_id))


async def new_order(session: AsyncSession, purchase: Purchase) -> None:
    total = await _amount(session, purchase.seller_id, purchase.total_cents)
    first = purchase.items[0].title if purchase.items else ""
    await _send(
        session,
        purchase,
        user_id=purchase.seller_id,
        event="paid",
        params={"total": total, "title": first, "count": len(purchase.items)},
    )


async def shipped(session: AsyncSession, purchase: Purchase) -> None:
    await _send(
        session,
        purchase,
        user_id=purchase.buyer_id,
        event="shipped",
        params={"code": purchase.tracking_code or ""},
    )


async def delivered(session: AsyncSession, purchase: Purchase) -> None:
    await _send(
        session,
        purchase,
        user_id=purchase.buyer_id,
        event="delivered",
        params={"days": _days_left(purchase)},
    )


def _days_left(purchase: Purchase) -> int:
    if purchase.release_at is None or purchase.delivered_at is None:
        return 0
    return max((purchase.release_at - purchase.delivered_at).days, 0)


async def released(session: AsyncSession, purchase: Purchase, *, amount: int) -> None:
    """Tell the seller that `amount` centavos were transferred to them."""
    text = await _amount(session, purchase.seller_id, amount)
    await _send(
        session, purchase, user_id=purchase.seller_id, event="released", params={"amount": text}
    )


async def payout_account_needed(session: AsyncSession, purchase: Purchase, *, amount: int) -> None:
    """Ask the seller for a payout account; `amount` centavos wait for it."""
    text = await _amount(session, purchase.seller_id, amount)
    await _send(
        session,
        purchase,
        user_id=purchase.seller_id,
        event="payout_account_needed",
        params={"amount": text},
    )


async def verification_needed(session: AsyncSession, purchase: Purchase, *, amount: int) -> None:
    """Ask the seller to verify their identity; `amount` centavos wait for it."""
    text = await _amount(session, purchase.seller_id, amount)
    await _send(
        session,
        purchase,
        user_id=purchase.seller_id,
        event="verification_needed",
        params={"amount": text},
    )


async def canceled(session: AsyncSession, purchase: Purchase, *, by: uuid.UUID | None) -> None:
    """Tell the side that did not cancel (both sides when the system canceled)."""
    reason = purchase.cancel_reason or ""
    for user_id in (purchase.buyer_id, purchase.seller_id):
        if user_id == by:
            continue
        amount = await _amount(session, user_id, purchase.refunded_cents)
        event = (
            "refunded" if user_id == purchase.buyer_id and purchase.refunded_cents else "canceled"
        )
        await _send(
            session,
            purchase,
            user_id=user_id,
            event=event,
            params={"amount": amount, "reason": reason},
        )


async def payment_expired(session: AsyncSession, purchase: Purchase) -> None:
    for user_id, event in (
        (purchase.buyer_id, "payment_expired_buyer"),
        (purchase.seller_id, "payment_expired_seller"),
    ):
        await _send(session, purchase, user_id=user_id, event=event)


async def dispute_opened(session: AsyncSession, purchase: Purchase) -> None:
    for user_id in (purchase.buyer_id, purchase.seller_id):
        await _send(session, purchase, user_id=user_id, event="dispute_opened")


async def refunded(session: AsyncSession, purchase: Purchase) -> None:
    """Tell both sides the purchase closed with the money back to the buyer.

    When nothing was captured, only the card authorization was released, and "refund of
    R$ 0,00" would mislead: both sides hear that no amount was charged.
    """
    event = "refunded" if purchase.refunded_cents else "authorization_released"
    for user_id in (purchase.buyer_id, purchase.seller_id):
        amount = await _amount(session, user_id, purchase.refunded_cents)
        await _send(session, purchase, user_id=user_id, event=event, params={"amount": amount})
