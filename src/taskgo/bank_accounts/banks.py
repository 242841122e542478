"""Brazilian banks and payment institutions by COMPE code, loaded from `data/banks.csv`.

`data/build_banks.py` generates the CSV. Its columns are the 3-digit COMPE code, the 8-digit
ISPB (the institution's id in the Brazilian payment system) and the name.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from taskgo.bank_accounts.exceptions import InvalidValue


@dataclass(frozen=True, slots=True)
class Bank:
    code: str
    ispb: str
    name: str
    short_name: str


@cache
def _banks_by_code() -> dict[str, Bank]:
    text = resources.files("taskgo.bank_accounts").joinpath("data/banks.csv").read_text("utf-8")
    banks = {}
    for row in csv.DictReader(io.StringIO(text)):
        bank = Bank(
            code=row["compe"], ispb=row["ispb"], name=row["name"], short_name=row["short_name"]
        )
        banks[bank.code] = bank
    return banks


def list_banks() -> list[Bank]:
    return sorted(_banks_by_code().values(), key=lambda bank: bank.code)


def find_bank(code: str | int) -> Bank | None:
    """Look a bank up by COMPE code, accepting "1", "01", "001" or 1 for Banco do Brasil."""
    text = str(code).strip()
    if not text.isdigit() or len(text) > 3:
        return None
    return _banks_by_code().get(text.zfill(3))


def get_bank(code: str | int) -> Bank:
    bank = find_bank(code)
    if bank is None:
        raise InvalidValue("bank_account.bank_unknown", bank=str(code).strip()[:10])
    return bank
