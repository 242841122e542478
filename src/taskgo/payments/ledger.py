"""Double-entry ledger of each purchase's money: the rules, independent of storage.

Accounts, from the platform's point of view of one purchase:

- `buyer`: the buyer's card. A capture takes money out of it (negative), a refund or a
  lost chargeback puts money back (positive).
- `escrow`: money captured and held on the platform until release or refund.
- `platform_fee`: the platform's revenue, recognized when the escrow is released.
- `seller`: money transferred to the seller's connected account.
- `platform_loss`: what the platform absorbs when a chargeback hits after the seller
  was paid.

Every transaction's postings sum to zero, so each purchase's entries sum to zero. The
escrow balance never goes negative, which is the rule "fee + transfer + refunds never
exceed what was captured". Each transaction has a key; posting the same key twice is a
no-op, so retries and duplicate webhooks cannot move money twice in the books.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Account(StrEnum):
    BUYER = "buyer"
    ESCROW = "escrow"
    PLATFORM_FEE = "platform_fee"
    SELLER = "seller"
    PLATFORM_LOSS = "platform_loss"


class Kind(StrEnum):
    CHARGE = "charge"
    FEE = "fee"
    TRANSFER = "transfer"
    REFUND = "refund"
    CHARGEBACK = "chargeback"


class LedgerError(Exception):
    """A transaction that would break the ledger's rules; nothing was posted."""


@dataclass(frozen=True)
class Posting:
    account: Account
    amount: int


@dataclass(frozen=True)
class LedgerTransaction:
    key: str
    kind: Kind
    postings: tuple[Posting, ...]
    external_ref: str | None = None

    @property
    def amount(self) -> int:
        """The money moved: the sum of the positive postings, in centavos."""
        return sum(p.amount for p in self.postings if p.amount > 0)


def _move(
    kind: Kind, *, key: str, amount: int, source: Account, target: Account, ref: str | None
) -> LedgerTransaction:
    if amount <= 0:
        raise LedgerError(f"{kind} amount must be positive, got {amount}")
    return LedgerTransaction(
        key=key,
        kind=kind,
        postings=(Posting(source, -amount), Posting(target, amount)),
        external_ref=ref,
    )


def charge(*, key: str, amount: int, external_ref: str | None = None) -> LedgerTransaction:
    """Captured money moving from the buyer's card into escrow."""
    return _move(
        Kind.CHARGE,
        key=key,
        amount=amount,
        source=Account.BUYER,
        target=Account.ESCROW,
        ref=external_ref,
    )


def fee(*, key: str, amount: int) -> LedgerTransaction:
    """The platform fee taken out of escrow at release."""
    return _move(
        Kind.FEE,
        key=key,
        amount=amount,
        source=Account.ESCROW,
        target=Account.PLATFORM_FEE,
        ref=None,
    )


def transfer(*, key: str, amount: int, external_ref: str | None = None) -> LedgerTransaction:
    """The escrow amount paid out to the seller's connected account."""
    return _move(
        Kind.TRANSFER,
        key=key,
        amount=amount,
        source=Account.ESCROW,
        target=Account.SELLER,
        ref=external_ref,
    )


def refund(*, key: str, amount: int, external_ref: str | None = None) -> LedgerTransaction:
    """Held money returned from escrow to the buyer's card."""
    return _move(
        Kind.REFUND,
        key=key,
        amount=amount,
        source=Account.ESCROW,
        target=Account.BUYER,
        ref=external_ref,
    )


def chargeback(*, key: str, amount: int, external_ref: str | None = None) -> LedgerTransaction:
    """A lost dispute after release: the platform, not the escrow, pays the buyer back."""
    return _move(
        Kind.CHARGEBACK,
        key=key,
        amount=amount,
        source=Account.PLATFORM_LOSS,
        target=Account.BUYER,
        ref=external_ref,
    )


@dataclass
class Balances:
    """Per-account balances and per-kind totals of one purchase's entries."""

    accounts: dict[Account, int] = field(default_factory=lambda: dict.fromkeys(Account, 0))
    totals: dict[Kind, int] = field(default_factory=lambda: dict.fromkeys(Kind, 0))
    # Amount moved by each posted transaction key.
    amounts_by_key: dict[str, int] = field(default_factory=dict)

    @property
    def keys(self) -> set[str]:
        return set(self.amounts_by_key)

    def returned_by(self, source: str) -> int:
        """Money given back to the buyer by one source (`refund`, `dispute`), in centavos."""
        prefixes = (f"{source}:", f"{source}_loss:")
        return sum(
            amount for key, amount in self.amounts_by_key.items() if key.startswith(prefixes)
        )

    @property
    def captured(self) -> int:
        return self.totals[Kind.CHARGE]

    @property
    def fees(self) -> int:
        return self.totals[Kind.FEE]

    @property
    def transferred(self) -> int:
        return self.totals[Kind.TRANSFER]

    @property
    def refunded(self) -> int:
        return self.totals[Kind.REFUND]

    @property
    def returned(self) -> int:
        """Everything given back to the buyer: refunds and lost disputes, from escrow or not."""
        return self.totals[Kind.REFUND] + self.totals[Kind.CHARGEBACK]

    @property
    def escrow_held(self) -> int:
        return self.accounts[Account.ESCROW]

    @property
    def net(self) -> int:
        """Sum of every posting; zero in a consistent ledger."""
        return sum(self.accounts.values())

    def add(self, transaction: LedgerTransaction) -> None:
        for posting in transaction.postings:
            self.accounts[posting.account] += posting.amount
        self.totals[transaction.kind] += transaction.amount
        self.amounts_by_key[transaction.key] = transaction.amount


def balances_of(transactions: Iterable[LedgerTransaction]) -> Balances:
    result = Balances()
    for transaction in transactions:
        result.add(transaction)
    return result


def check_postable(current: Balances, transaction: LedgerTransaction) -> None:
    """Raise LedgerError unless `transaction` keeps the purchase's ledger consistent."""
    if sum(p.amount for p in transaction.postings) != 0:
        raise LedgerError(f"transaction {transaction.key} does not balance")
    if any(p.amount == 0 for p in transaction.postings):
        raise LedgerError(f"transaction {transaction.key} has a zero posting")
    escrow_change = sum(p.amount for p in transaction.postings if p.account is Account.ESCROW)
    if current.escrow_held + escrow_change < 0:
        raise LedgerError(
            f"transaction {transaction.key} takes {-escrow_change} out of escrow, which "
            f"holds only {current.escrow_held}"
        )


class LedgerBook:
    """An in-memory ledger of one purchase, with the same rules as the stored one."""

    def __init__(self) -> None:
        self.transactions: dict[str, LedgerTransaction] = {}
        self.balances = Balances()

    def post(self, transaction: LedgerTransaction) -> bool:
        """Record `transaction`; return False when its key was already posted."""
        existing = self.transactions.get(transaction.key)
        if existing is not None:
            if existing != transaction:
                raise LedgerError(f"key {transaction.key} was posted with other postings")
            return False
        check_postable(self.balances, transaction)
        self.transactions[transaction.key] = transaction
        self.balances.add(transaction)
        return True
