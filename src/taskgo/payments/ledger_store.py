"""The ledger in PostgreSQL: posting balanced transactions and reading balances back.

Callers hold the purchase's row lock (`SELECT … FOR UPDATE`) while they read balances and
post, so the balance check and the insert see the same books.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.payments.ledger import (
    Account,
    Balances,
    Kind,
    LedgerTransaction,
    Posting,
    check_postable,
)
from taskgo.payments.models import LedgerEntry

log = structlog.get_logger(__name__)


async def load_transactions(
    session: AsyncSession, purchase_id: uuid.UUID
) -> list[LedgerTransaction]:
    rows = (
        await session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.purchase_id == purchase_id)
            .order_by(LedgerEntry.created_at, LedgerEntry.transaction_key, LedgerEntry.account)
        )
    ).all()
    grouped: dict[str, list[LedgerEntry]] = {}
    for row in rows:
        grouped.setdefault(row.transaction_key, []).append(row)
    return [
        LedgerTransaction(
            key=key,
            kind=Kind(entries[0].kind),
            postings=tuple(Posting(Account(e.account), e.amount_cents) for e in entries),
            external_ref=entries[0].external_ref,
        )
        for key, entries in grouped.items()
    ]


async def load_balances(session: AsyncSession, purchase_id: uuid.UUID) -> Balances:
    balances = Balances()
    for transaction in await load_transactions(session, purchase_id):
        balances.add(transaction)
    return balances


async def post(
    session: AsyncSession,
    *,
    purchase_id: uuid.UUID,
    transactions: Sequence[LedgerTransaction],
) -> Balances:
    """Post `transactions` in order, skipping keys already in the books; return new balances.

    All of them are checked before any is written, so a `LedgerError` posts nothing.
    """
    balances = await load_balances(session, purchase_id)
    planned = copy.deepcopy(balances)
    pending = []
    for transaction in transactions:
        if transaction.key in planned.keys:
            continue
        check_postable(planned, transaction)
        planned.add(transaction)
        pending.append(transaction)

    for transaction in pending:
        await session.execute(
            insert(LedgerEntry)
            .values(
                [
                    {
                        "id": uuid.uuid4(),
                        "purchase_id": purchase_id,
                        "transaction_key": transaction.key,
                        "kind": transaction.kind.value,
                        "account": posting.account.value,
                        "amount_cents": posting.amount,
                        "external_ref": transaction.external_ref,
                    }
                    for posting in transaction.postings
                ]
            )
            .on_conflict_do_nothing(index_elements=["transaction_key", "account"])
        )
        balances.add(transaction)
        log.info(
            "ledger.posted",
            purchase_id=str(purchase_id),
            key=transaction.key,
            kind=transaction.kind.value,
            amount=transaction.amount,
        )
    return balances
