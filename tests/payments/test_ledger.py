"""Ledger rules and fee split, with property tests over random event sequences."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskgo.payments import escrow, ledger
from taskgo.payments.ledger import Account, Kind, LedgerBook, LedgerError
from taskgo.purchases.pricing import split_total


def test_split_default_fee() -> None:
    split = split_total(10_000, fee_bps=500)

    assert split.fee == 500
    assert split.escrow == 9_500
    assert split.total == 10_000


@pytest.mark.parametrize(
    ("total", "bps", "fee"),
    [
        (10, 500, 1),
        (9, 500, 0),
        (30, 500, 2),
        (1, 5_000, 1),
        (3, 5_000, 2),
        (0, 500, 0),
        (12_345, 0, 0),
        (12_345, 10_000, 12_345),
        (199_999, 250, 5_000),
    ],
)
def test_split_rounds_half_up(total: int, bps: int, fee: int) -> None:
    split = split_total(total, fee_bps=bps)

    assert split.fee == fee
    assert split.escrow == total - fee


def test_split_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="total"):
        split_total(-1, fee_bps=500)
    with pytest.raises(ValueError, match="fee_bps"):
        split_total(100, fee_bps=10_001)


@given(st.integers(0, 10**12), st.integers(0, 10_000))
def test_split_matches_exact_rounding(total: int, bps: int) -> None:
    split = split_total(total, fee_bps=bps)

    exact = Fraction(total * bps, 10_000)
    assert split.fee == int(exact + Fraction(1, 2))
    assert split.fee + split.escrow == total
    assert 0 <= split.fee <= total


def test_happy_path_books() -> None:
    book = LedgerBook()
    split = split_total(10_000, fee_bps=500)

    for txn in escrow.capture_transactions(charge_id="ch_1", amount=10_000, current=book.balances):
        book.post(txn)
    for txn in escrow.release_transactions(
        purchase_id="p1",
        fee_amount=split.fee,
        escrow_amount=split.escrow,
        transfer_id="tr_1",
        current=book.balances,
    ):
        book.post(txn)

    accounts = book.balances.accounts
    assert accounts[Account.BUYER] == -10_000
    assert accounts[Account.ESCROW] == 0
    assert accounts[Account.PLATFORM_FEE] == 500
    assert accounts[Account.SELLER] == 9_500
    assert book.balances.net == 0


def test_escrow_cannot_go_negative() -> None:
    book = LedgerBook()
    book.post(ledger.charge(key="charge:ch_1", amount=1_000))

    with pytest.raises(LedgerError, match="holds only 1000"):
        book.post(ledger.transfer(key="transfer:tr_1", amount=1_001))

    assert book.balances.escrow_held == 1_000
    assert book.balances.transferred == 0


def test_same_key_other_postings_rejected() -> None:
    book = LedgerBook()
    book.post(ledger.charge(key="charge:ch_1", amount=1_000))

    assert book.post(ledger.charge(key="charge:ch_1", amount=1_000)) is False
    with pytest.raises(LedgerError, match="other postings"):
        book.post(ledger.charge(key="charge:ch_1", amount=2_000))


def test_refund_after_release_is_platform_loss() -> None:
    book = LedgerBook()
    book.post(ledger.charge(key="charge:ch_1", amount=10_000))
    book.post(ledger.fee(key="fee:p1", amount=500))
    book.post(ledger.transfer(key="transfer:tr_1", amount=9_500))

    for txn in escrow.returned_transactions(
        source="dispute", source_id="dp_1", amount=10_000, current=book.balances
    ):
        book.post(txn)

    assert book.balances.accounts[Account.BUYER] == 0
    assert book.balances.accounts[Account.PLATFORM_LOSS] == -10_000
    assert book.balances.refunded == 0
    assert book.balances.net == 0


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(50, 1_000_000),
    bps=st.integers(0, 10_000),
    returned=st.lists(
        st.tuples(st.sampled_from(["refund", "dispute"]), st.integers(1, 2_000_000)), max_size=4
    ),
)
def test_release_amounts_after_refunds(
    total: int, bps: int, returned: list[tuple[str, int]]
) -> None:
    book = LedgerBook()
    for txn in escrow.capture_transactions(charge_id="ch_1", amount=total, current=book.balances):
        book.post(txn)
    for index, (source, amount) in enumerate(returned):
        for txn in escrow.returned_transactions(
            source=source, source_id=f"{source}_{index}", amount=amount, current=book.balances
        ):
            book.post(txn)
    split = split_total(total, fee_bps=bps)

    fee, payout = escrow.release_amounts(
        purchase_id="p1", fee_amount=split.fee, current=book.balances
    )
    for txn in escrow.release_transactions(
        purchase_id="p1",
        fee_amount=fee,
        escrow_amount=payout,
        transfer_id="tr_1",
        current=book.balances,
    ):
        book.post(txn)

    balances = book.balances
    assert balances.escrow_held == 0
    assert balances.net == 0
    # Refunds come out of the seller's part first; the fee only when they exceed it.
    assert balances.transferred == max(0, split.escrow - balances.refunded)
    assert balances.fees == min(split.fee, total - balances.refunded)
    assert balances.returned == balances.accounts[Account.BUYER] + total
    assert escrow.release_amounts(purchase_id="p1", fee_amount=split.fee, current=balances) == (
        0,
        0,
    )


def test_non_positive_amounts_rejected() -> None:
    with pytest.raises(LedgerError):
        ledger.refund(key="refund:x", amount=0)
    with pytest.raises(LedgerError):
        ledger.fee(key="fee:x", amount=-5)


# -- property test ----------------------------------------------------------------------

_event = st.one_of(
    st.tuples(st.just("capture")),
    st.tuples(st.just("release")),
    st.tuples(st.just("refund"), st.integers(0, 3), st.integers(1, 2_000_000)),
    st.tuples(st.just("dispute_lost"), st.integers(0, 1), st.integers(1, 2_000_000)),
    st.tuples(
        st.just("raw"),
        st.sampled_from([Kind.FEE, Kind.TRANSFER, Kind.REFUND]),
        st.integers(1, 2_000_000),
    ),
    st.tuples(st.just("duplicate"), st.integers(0, 50)),
)


def _transactions(
    event: tuple, book: LedgerBook, *, total: int, bps: int, history: list[ledger.LedgerTransaction]
) -> list[ledger.LedgerTransaction]:
    current = book.balances
    match event:
        case ("capture",):
            return escrow.capture_transactions(charge_id="ch_1", amount=total, current=current)
        case ("release",):
            split = split_total(total, fee_bps=bps)
            return escrow.release_transactions(
                purchase_id="p1",
                fee_amount=split.fee,
                escrow_amount=split.escrow,
                transfer_id="tr_1",
                current=current,
            )
        case ("refund", index, amount):
            return escrow.returned_transactions(
                source="refund", source_id=f"re_{index}", amount=amount, current=current
            )
        case ("dispute_lost", index, amount):
            return escrow.returned_transactions(
                source="dispute", source_id=f"dp_{index}", amount=amount, current=current
            )
        case ("raw", kind, amount):
            builder = {
                Kind.FEE: ledger.fee,
                Kind.TRANSFER: ledger.transfer,
                Kind.REFUND: ledger.refund,
            }[kind]
            return [builder(key=f"raw:{kind}:{len(history)}", amount=amount)]
        case ("duplicate", index):
            return [history[index % len(history)]] if history else []
    raise AssertionError(event)


@settings(max_examples=400, deadline=None)
@given(
    total=st.integers(50, 1_000_000),
    bps=st.integers(0, 10_000),
    events=st.lists(_event, max_size=40),
)
def test_random_event_sequences_keep_invariants(total: int, bps: int, events: list[tuple]) -> None:
    book = LedgerBook()
    history: list[ledger.LedgerTransaction] = []

    for event in events:
        for txn in _transactions(event, book, total=total, bps=bps, history=history):
            before = copy.deepcopy(book.balances)
            try:
                posted = book.post(txn)
            except LedgerError:
                assert book.balances == before, "a rejected transaction changed the books"
                continue
            if posted:
                history.append(txn)
            else:
                assert book.balances == before, "a duplicate key changed the books"

        balances = book.balances
        assert balances.net == 0
        assert balances.fees + balances.transferred + balances.refunded <= balances.captured
        assert balances.escrow_held == (
            balances.captured - balances.fees - balances.transferred - balances.refunded
        )
        assert balances.escrow_held >= 0
        assert balances.captured in (0, total)
        assert balances.accounts[Account.BUYER] == (
            -balances.captured + balances.refunded + balances.totals[Kind.CHARGEBACK]
        )
