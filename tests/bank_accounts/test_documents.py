import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskgo.bank_accounts.documents import (
    Document,
    DocumentType,
    cnpj_check_digits,
    cpf_check_digits,
    format_cnpj,
    format_cpf,
    normalize_cnpj,
    normalize_cpf,
    parse_document,
)
from taskgo.bank_accounts.exceptions import InvalidValue


def reference_digit(values: list[int], *, cycle: int) -> int:
    """Mod-11 check digit with weights 2, 3, ... counted from the rightmost value.

    Written from the right, unlike the code under test, so the two can disagree.
    """
    total = 0
    for position, value in enumerate(reversed(values)):
        total += value * (position % (cycle - 1) + 2)
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def reference_cpf_digits(base: str) -> str:
    values = [int(char) for char in base]
    first = reference_digit(values, cycle=12)
    second = reference_digit([*values, first], cycle=12)
    return f"{first}{second}"


def reference_cnpj_digits(base: str) -> str:
    values = [ord(char) - 48 for char in base]
    first = reference_digit(values, cycle=9)
    second = reference_digit([*values, first], cycle=9)
    return f"{first}{second}"


VALID_CPFS = [
    ("529.982.247-25", "52998224725"),
    ("52998224725", "52998224725"),
    ("111.444.777-35", "11144477735"),
    (" 111 444 777 35 ", "11144477735"),
    ("390.533.447-05", "39053344705"),
    ("000.000.001-91", "00000000191"),
]

INVALID_CPFS = [
    "529.982.247-24",  # second check digit wrong
    "529.982.247-15",  # first check digit wrong
    "00000000000",
    "11111111111",
    "999.999.999-99",
    "5299822472",  # 10 digits
    "529982247255",  # 12 digits
    "52998224A25",
    "",
    "529_982_247_25",
]


@pytest.mark.parametrize(("raw", "expected"), VALID_CPFS)
def test_cpf_valid_normalized(raw: str, expected: str) -> None:
    assert normalize_cpf(raw) == expected


@pytest.mark.parametrize("raw", INVALID_CPFS)
def test_cpf_invalid_rejected(raw: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_cpf(raw)
    assert caught.value.code == "bank_account.cpf_invalid"


@pytest.mark.parametrize("digit", string.digits)
def test_cpf_repeated_digit_rejected(digit: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_cpf(digit * 11)


VALID_CNPJS = [
    ("12ABC34501DE35", "12ABC34501DE35"),
    ("12.ABC.345/01DE-35", "12ABC34501DE35"),
    ("12.abc.345/01de-35", "12ABC34501DE35"),
    ("11.222.333/0001-81", "11222333000181"),
    ("11222333000181", "11222333000181"),
    ("00.000.000/0001-91", "00000000000191"),
    ("33.000.167/0001-01", "33000167000101"),
]

INVALID_CNPJS = [
    "12ABC34501DE36",  # second check digit wrong
    "12ABC34501DE45",  # first check digit wrong
    "12ABC34501DE3A",  # check digits must be numeric
    "12ABC34501DEA5",
    "11.222.333/0001-80",
    "00000000000000",
    "AAAAAAAAAAAA00",
    "1122233300018",  # 13 characters
    "112223330001811",  # 15 characters
    "12ABC34501DÉ35",
    "12ABC345@1DE35",
    "",
]


@pytest.mark.parametrize(("raw", "expected"), VALID_CNPJS)
def test_cnpj_valid_normalized(raw: str, expected: str) -> None:
    assert normalize_cnpj(raw) == expected


@pytest.mark.parametrize("raw", INVALID_CNPJS)
def test_cnpj_invalid_rejected(raw: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        normalize_cnpj(raw)
    assert caught.value.code == "bank_account.cnpj_invalid"


def test_cnpj_alphanumeric_example_digits() -> None:
    # Worked example of the Receita Federal: A=17, B=18, ...; sums 459 and 424.
    assert cnpj_check_digits("12ABC34501DE") == "35"


def test_cnpj_letter_worth_ascii_minus_48() -> None:
    # "A" is worth 17. First digit: 17 * 2 = 34, 34 % 11 = 1, so 0.
    # Second digit: 17 * 3 + 0 * 2 = 51, 51 % 11 = 7, so 11 - 7 = 4.
    assert cnpj_check_digits("00000000000A") == "04"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("529.982.247-25", Document(DocumentType.CPF, "52998224725")),
        ("12.abc.345/01de-35", Document(DocumentType.CNPJ, "12ABC34501DE35")),
        ("11222333000181", Document(DocumentType.CNPJ, "11222333000181")),
    ],
)
def test_parse_document_detects_type(raw: str, expected: Document) -> None:
    assert parse_document(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("123", "bank_account.document_invalid"),
        ("1234567890123", "bank_account.document_invalid"),
        ("529.982.247-26", "bank_account.cpf_invalid"),
        ("12ABC34501DE36", "bank_account.cnpj_invalid"),
        ("ABCDEFGHIJK", "bank_account.cpf_invalid"),
        ("٥٢٩.٩٨٢.٢٤٧-25", "bank_account.cpf_invalid"),
    ],
)
def test_parse_document_rejects(raw: str, code: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_document(raw)
    assert caught.value.code == code


def test_format_round_trip() -> None:
    assert format_cpf("52998224725") == "529.982.247-25"
    assert format_cnpj("12ABC34501DE35") == "12.ABC.345/01DE-35"
    assert normalize_cnpj(format_cnpj("12ABC34501DE35")) == "12ABC34501DE35"


cpf_bases = st.text(alphabet=string.digits, min_size=9, max_size=9)
cnpj_bases = st.text(alphabet=string.digits + string.ascii_uppercase, min_size=12, max_size=12)


@given(cpf_bases)
def test_cpf_digits_match_reference(base: str) -> None:
    assert cpf_check_digits(base) == reference_cpf_digits(base)


@given(cnpj_bases)
def test_cnpj_digits_match_reference(base: str) -> None:
    assert cnpj_check_digits(base) == reference_cnpj_digits(base)


@given(cpf_bases.filter(lambda base: len(set(base)) > 1))
def test_cpf_generated_valid_and_digit_errors_caught(base: str) -> None:
    number = base + cpf_check_digits(base)
    assert normalize_cpf(format_cpf(number)) == number

    for position in (9, 10):
        wrong = str((int(number[position]) + 1) % 10)
        with pytest.raises(InvalidValue):
            normalize_cpf(number[:position] + wrong + number[position + 1 :])


@given(cnpj_bases.filter(lambda base: len(set(base)) > 1))
def test_cnpj_generated_valid_and_digit_errors_caught(base: str) -> None:
    number = base + cnpj_check_digits(base)
    assert normalize_cnpj(format_cnpj(number).lower()) == number

    for position in (12, 13):
        wrong = str((int(number[position]) + 1) % 10)
        with pytest.raises(InvalidValue):
            normalize_cnpj(number[:position] + wrong + number[position + 1 :])


@given(st.text(alphabet=string.digits, min_size=12, max_size=12))
def test_cnpj_numeric_unchanged_by_ascii_rule(base: str) -> None:
    # For digits, ASCII minus 48 is the digit itself, so the classic numeric rule
    # (weights 2..9 from the right on the digit values) still holds.
    values = [int(char) for char in base]
    first = reference_digit(values, cycle=9)
    second = reference_digit([*values, first], cycle=9)
    assert cnpj_check_digits(base) == f"{first}{second}"
