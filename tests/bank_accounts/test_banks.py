import pytest

from taskgo.bank_accounts.banks import find_bank, get_bank, list_banks
from taskgo.bank_accounts.exceptions import InvalidValue


def test_bank_list_well_formed() -> None:
    banks = list_banks()
    assert len(banks) >= 240
    assert len({bank.code for bank in banks}) == len(banks)
    for bank in banks:
        assert len(bank.code) == 3, bank
        assert bank.code.isdigit(), bank
        assert len(bank.ispb) == 8, bank
        assert bank.ispb.isdigit(), bank
        assert bank.name, bank
        assert bank.name.strip() == bank.name, bank


@pytest.mark.parametrize(
    ("code", "ispb"),
    [
        ("001", "00000000"),  # Banco do Brasil
        ("104", "00360305"),  # Caixa
        ("237", "60746948"),  # Bradesco
        ("341", "60701190"),  # Itaú
        ("260", "18236120"),  # Nubank
        ("077", "00416968"),  # Inter
        ("380", "22896431"),  # PicPay
    ],
)
def test_bank_known_codes(code: str, ispb: str) -> None:
    assert get_bank(code).ispb == ispb


@pytest.mark.parametrize("code", ["1", "01", "001", 1, " 001 "])
def test_bank_code_padding(code: str | int) -> None:
    assert get_bank(code).code == "001"


@pytest.mark.parametrize("code", ["999", "0001", "abc", "", "-1", "1.0"])
def test_bank_unknown(code: str) -> None:
    assert find_bank(code) is None
    with pytest.raises(InvalidValue) as caught:
        get_bank(code)
    assert caught.value.code == "bank_account.bank_unknown"
