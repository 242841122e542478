import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

import taskgo.bank_accounts
from taskgo.bank_accounts.models import ReviewReason
from taskgo.i18n.catalogs import LOCALES_DIR

SOURCE_DIR = Path(taskgo.bank_accounts.__file__).parent
# Error codes are the first argument of AppError, InvalidValue and PydanticCustomError
# (log events are not).
LITERAL_CODE = re.compile(
    r"(?:AppError|InvalidValue|PydanticCustomError)\(\s*\"(bank_account\.[a-z_.]+)\""
)
# Codes built from a prefix in account_numbers.py.
BUILT_CODES = {
    f"bank_account.{prefix}_{suffix}"
    for prefix in ("agency", "account")
    for suffix in ("invalid", "digit_invalid", "digit_conflict")
}


def catalog_keys(locale: str) -> set[str]:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "bank_accounts.po").open("rb") as handle:
        return {str(message.id) for message in read_po(handle) if message.id and message.string}


def used_codes() -> set[str]:
    codes = set(BUILT_CODES)
    for path in SOURCE_DIR.glob("*.py"):
        codes.update(LITERAL_CODE.findall(path.read_text("utf-8")))
    codes.update(f"bank_account.review.{reason.value}" for reason in ReviewReason)
    return codes


def test_catalogs_same_keys() -> None:
    assert catalog_keys("pt_BR") == catalog_keys("en")


@pytest.mark.parametrize("locale", ["pt_BR", "en"])
def test_catalog_covers_every_code(locale: str) -> None:
    missing = used_codes() - catalog_keys(locale)
    assert not missing, f"codes without a {locale} message: {sorted(missing)}"


def test_catalog_no_stale_keys() -> None:
    assert catalog_keys("pt_BR") - used_codes() == set()


def test_source_scan_finds_codes() -> None:
    codes = used_codes()
    assert "bank_account.pix_key_ambiguous" in codes
    assert "bank_account.primary_delete_forbidden" in codes
