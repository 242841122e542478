"""Purchases: creating an order with its PaymentIntent, and reading purchases.

State changes after creation live in `transitions.py` (shipping, delivery, cancel,
disputes), `payment_sync.py` (what the payment provider reports) and `release.py`
(capture, transfer and refunds).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.config import get_settings
from taskgo.errors import AppError
from taskgo.jobs import enqueue
from taskgo.money import format_centavos
from taskgo.pagination import apply_keyset, page_of
from taskgo.payments.models import ProcessedWebhookEvent
from taskgo.payments.provider import PaymentError, payments_unavailable
from taskgo.payments.providers import get_payments
from taskgo.products.models import Product, ProductStatus
from taskgo.purchases import notify, stock
from taskgo.purchases.models import Purchase, PurchaseItem, PurchaseStatus
from taskgo.purchases.pricing import MAX_TOTAL_CENTAVOS, MIN_TOTAL_CENTAVOS, split_total
from taskgo.purchases.schemas import PurchaseCreateIn
from taskgo.users.models import User

log = structlog.get_logger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


async def get_purchase_for_participant(
    session: AsyncSession, *, purchase_id: uuid.UUID, user: User
) -> Purchase:
    """Return the purchase if `user` is its buyer or seller; 404 `purchase.not_found` otherwise.

    Everyone else gets the same 404 as for an id that does not exist, so purchase ids of
    other users cannot be probed.
    """
    purchase = await session.get(Purchase, purchase_id)
    if purchase is None or user.id not in (purchase.buyer_id, purchase.seller_id):
        raise AppError("purchase.not_found", status=404)
    return purchase


async def list_purchases_for_user(
    session: AsyncSession, *, user: User, limit: int
) -> list[Purchase]:
    """The user's latest `limit` purchases, as buyer or as seller, newest first."""
    rows, _ = await page_purchases_for_user(session, user=user, role=None, cursor=None, limit=limit)
    return rows


async def page_purchases_for_user(
    session: AsyncSession, *, user: User, role: str | None, cursor: str | None, limit: int
) -> tuple[list[Purchase], str | None]:
    """One keyset page of the user's purchases (as `buyer`, `seller` or both)."""
    if role == "buyer":
        mine = Purchase.buyer_id == user.id
    elif role == "seller":
        mine = Purchase.seller_id == user.id
    else:
        mine = or_(Purchase.buyer_id == user.id, Purchase.seller_id == user.id)
    query = apply_keyset(
        select(Purchase).where(mine),
        created_at=Purchase.created_at,
        row_id=Purchase.id,
        cursor=cursor,
        limit=limit,
    )
    rows = list((await session.scalars(query)).all())
    return page_of(rows, limit=limit, key=lambda row: (row.created_at, row.id))


async def lock_purchase(session: AsyncSession, purchase_id: uuid.UUID) -> Purchase | None:
    """Load the purchase with `FOR UPDATE`: every state change runs under this row lock."""
    return await session.scalar(
        select(Purchase)
        .where(Purchase.id == purchase_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_purchase_by_intent(session: AsyncSession, intent_id: str) -> Purchase | None:
    return await session.scalar(
        select(Purchase)
        .where(Purchase.payment_intent_id == intent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def chargeback_closed(session: AsyncSession, dispute_id: str) -> bool:
    """Return whether the provider reported the chargeback `dispute_id` closed (won or lost).

    Dispute webhooks may arrive in any order and the provider's dispute is not read back,
    so the handled `charge.dispute.closed` event is the record of the outcome.
    """
    return bool(
        await session.scalar(
            select(
                exists().where(
                    ProcessedWebhookEvent.event_type == "charge.dispute.closed",
                    ProcessedWebhookEvent.object_id == dispute_id,
                )
            )
        )
    )


async def create_purchase(
    session: AsyncSession, *, buyer: User, data: PurchaseCreateIn
) -> Purchase:
    """Price the items from the database, reserve stock and open a PaymentIntent.

    The PaymentIntent is created before the stock rows are locked, so the provider call
    does not hold those locks; when the reservation then fails, the intent is canceled.
    """
    settings = get_settings()
    quantities: dict[uuid.UUID, int] = {}
    for item in data.items:
        quantities[item.product_id] = quantities.get(item.product_id, 0) + item.quantity

    products = {
        p.id: p for p in await session.scalars(select(Product).where(Product.id.in_(quantities)))
    }
    for index, item in enumerate(data.items):
        product = products.get(item.product_id)
        if product is None or product.status != ProductStatus.ACTIVE.value:
            raise AppError(
                "purchase.product_unavailable",
                field=f"items.{index}.productId",
                product_id=str(item.product_id),
            )
        if product.seller_id == buyer.id:
            raise AppError("purchase.own_product", field=f"items.{index}.productId")
        if quantities[product.id] > 100:
            raise AppError("purchase.quantity_too_large", field=f"items.{index}.quantity")
    sellers = {p.seller_id for p in products.values()}
    if len(sellers) != 1:
        raise AppError(
            "purchase.multiple_sellers",
            field="items",
            details={"sellerIds": sorted(str(s) for s in sellers)},
        )

    ordered = [products[product_id] for product_id in quantities]
    total = sum(p.price_cents * quantities[p.id] for p in ordered)
    if total < MIN_TOTAL_CENTAVOS:
        raise AppError(
            "purchase.total_too_small",
            field="items",
            details={"minimum": format_centavos(MIN_TOTAL_CENTAVOS)},
        )
    if total > MAX_TOTAL_CENTAVOS:
        raise AppError(
            "purchase.total_too_large",
            field="items",
            details={"maximum": format_centavos(MAX_TOTAL_CENTAVOS)},
        )
    split = split_total(total, fee_bps=settings.platform_fee_bps)
    purchase_id = uuid.uuid4()
    transfer_group = f"purchase_{purchase_id}"
    payments = get_payments()
    try:
        intent = await payments.create_intent(
            amount=total,
            currency="brl",
            purchase_id=str(purchase_id),
            transfer_group=transfer_group,
            capture_manually=True,
            description=f"TaskGo purchase {purchase_id}",
            idempotency_key=f"purchase:{purchase_id}:intent",
        )
    except PaymentError as error:
        log.warning("purchase.intent_failed", purchase_id=str(purchase_id), reason=error.reason)
        raise payments_unavailable() from error

    try:
        await stock.reserve(
            session, lines=[(p.id, quantities[p.id], p.price_cents) for p in ordered]
        )
    except AppError:
        await _cancel_unused_intent(intent.id, purchase_id=purchase_id)
        raise

    purchase = Purchase(
        id=purchase_id,
        buyer_id=buyer.id,
        seller_id=ordered[0].seller_id,
        status=PurchaseStatus.PENDING_PAYMENT.value,
        currency="brl",
        total_cents=split.total,
        platform_fee_cents=split.fee,
        escrow_cents=split.escrow,
        fee_bps=split.fee_bps,
        payment_provider=payments.name,
        payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        transfer_group=transfer_group,
        captured_cents=0,
        refunded_cents=0,
        payment_expires_at=now() + timedelta(minutes=settings.purchase_payment_timeout_minutes),
        hold_reason=None,
        items=[
            PurchaseItem(
                position=position,
                product_id=p.id,
                title=p.title,
                unit_price_cents=p.price_cents,
                quantity=quantities[p.id],
                subtotal_cents=p.price_cents * quantities[p.id],
            )
            for position, p in enumerate(ordered)
        ],
    )
    session.add(purchase)
    await session.flush()
    await enqueue(
        session,
        "purchases.expire_unpaid_one",
        purchase_id=str(purchase.id),
        scheduled_at=purchase.payment_expires_at,
    )
    notify.announce(session, purchase)
    log.info(
        "purchase.created",
        purchase_id=str(purchase.id),
        buyer_id=str(buyer.id),
        seller_id=str(purchase.seller_id),
        total=total,
        intent_id=intent.id,
    )
    return purchase


async def _cancel_unused_intent(intent_id: str, *, purchase_id: uuid.UUID) -> None:
    try:
        await get_payments().cancel_intent(
            intent_id, idempotency_key=f"purchase:{purchase_id}:cancel-unused"
        )
    except PaymentError as error:
        # No client has its client secret, so the intent can never be confirmed and moves
        # no money; it only stays listed at the provider.
        log.warning(
            "purchase.unused_intent_cancel_failed", intent_id=intent_id, reason=error.reason
        )


async def mark_delivered_by_carrier(
    session: AsyncSession, *, purchase_id: uuid.UUID, occurred_at: datetime
) -> Purchase | None:
    """Record the carrier's delivery and start the automatic release clock (idempotent).

    Used by the tracking poller; a purchase that is not shipped is left as it is.
    """
    from taskgo.purchases.transitions import mark_delivered_by_carrier as mark

    return await mark(session, purchase_id=purchase_id, occurred_at=occurred_at)
