import pytest

from taskgo.bank_accounts.exceptions import InvalidValue
from taskgo.bank_accounts.pix import (
    AREA_CODES,
    PixKey,
    PixKeyType,
    detect_pix_key_type,
    parse_pix_key,
)

CPF = PixKeyType.CPF
CNPJ = PixKeyType.CNPJ
EMAIL = PixKeyType.EMAIL
PHONE = PixKeyType.PHONE
RANDOM = PixKeyType.RANDOM

DETECTED = [
    ("529.982.247-25", CPF, "52998224725"),
    # 52 is not an area code, so 11 bare digits can only be a CPF.
    ("52998224725", CPF, "52998224725"),
    ("12.ABC.345/01DE-35", CNPJ, "12ABC34501DE35"),
    ("12abc34501de35", CNPJ, "12ABC34501DE35"),
    ("11222333000181", CNPJ, "11222333000181"),
    ("Maria.Silva@Example.COM", EMAIL, "maria.silva@example.com"),
    ("  ana+pix@mail.example.com.br ", EMAIL, "ana+pix@mail.example.com.br"),
    ("+55 11 98765-4321", PHONE, "+5511987654321"),
    ("+5511987654321", PHONE, "+5511987654321"),
    ("(11) 98765-4321", PHONE, "+5511987654321"),
    ("11 98765 4321", PHONE, "+5511987654321"),
    ("5511987654321", PHONE, "+5511987654321"),
    ("123E4567-E89B-12D3-A456-426614174000", RANDOM, "123e4567-e89b-12d3-a456-426614174000"),
    ("123e4567e89b12d3a456426614174000", RANDOM, "123e4567-e89b-12d3-a456-426614174000"),
]


@pytest.mark.parametrize(("raw", "key_type", "stored"), DETECTED)
def test_pix_key_detected_and_normalized(raw: str, key_type: PixKeyType, stored: str) -> None:
    assert parse_pix_key(raw) == PixKey(key_type, stored)


@pytest.mark.parametrize(
    "raw",
    [
        "11987654321",  # a mobile number in São Paulo and a valid-looking CPF shape
        "21999998888",
        "11987654374",  # a valid CPF that also reads as a mobile number in area 11
    ],
)
def test_pix_eleven_digits_ambiguous(raw: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_pix_key(raw)
    assert caught.value.code == "bank_account.pix_key_ambiguous"
    assert caught.value.params == {"candidates": ["cpf", "phone"]}


@pytest.mark.parametrize(
    ("raw", "key_type", "stored"),
    [
        ("11987654321", PHONE, "+5511987654321"),
        ("11987654374", CPF, "11987654374"),
        ("11 9 8765-4321", PHONE, "+5511987654321"),
    ],
)
def test_pix_type_given_resolves_ambiguity(raw: str, key_type: PixKeyType, stored: str) -> None:
    assert parse_pix_key(raw, key_type=key_type) == PixKey(key_type, stored)


@pytest.mark.parametrize(
    ("raw", "key_type", "code"),
    [
        ("11987654321", CPF, "bank_account.cpf_invalid"),
        ("52998224725", PHONE, "bank_account.phone_invalid"),  # 52 is no area code
        ("+1 415 555 0100", PHONE, "bank_account.phone_invalid"),
        ("+55 11 8765-4321", PHONE, "bank_account.phone_invalid"),  # landline
        ("+55 11 88765-4321", PHONE, "bank_account.phone_invalid"),  # mobile starts with 9
        ("+55 20 98765-4321", PHONE, "bank_account.phone_invalid"),  # 20 is no area code
        ("+55 11 98765-43210", PHONE, "bank_account.phone_invalid"),
        ("maria@example", EMAIL, "bank_account.email_invalid"),
        ("maria@@example.com", EMAIL, "bank_account.email_invalid"),
        (".maria@example.com", EMAIL, "bank_account.email_invalid"),
        ("ma..ria@example.com", EMAIL, "bank_account.email_invalid"),
        ("maria@-example.com", EMAIL, "bank_account.email_invalid"),
        ("maria@example.123", EMAIL, "bank_account.email_invalid"),
        ("joão@example.com", EMAIL, "bank_account.email_invalid"),
        ("a" * 66 + "@example.com", EMAIL, "bank_account.email_invalid"),  # 78 characters
        ("123e4567-e89b-12d3-a456-42661417400", RANDOM, "bank_account.random_key_invalid"),
        ("123e4567-e89b-12d3-a456-42661417400g", RANDOM, "bank_account.random_key_invalid"),
        ("12ABC34501DE36", CNPJ, "bank_account.cnpj_invalid"),
        ("maria@example.com", CPF, "bank_account.cpf_invalid"),
    ],
)
def test_pix_key_invalid_for_type(raw: str, key_type: PixKeyType, code: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_pix_key(raw, key_type=key_type)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("529.982.247-24", "bank_account.cpf_invalid"),
        ("52998224724", "bank_account.cpf_invalid"),
        ("12.ABC.345/01DE-36", "bank_account.cnpj_invalid"),
        ("+1 415 555 0100", "bank_account.phone_invalid"),
        ("(11) 8765-4321", "bank_account.phone_invalid"),
        ("1187654321", "bank_account.phone_invalid"),
        ("maria@", "bank_account.email_invalid"),
        ("hello", "bank_account.pix_key_unrecognized"),
        ("12345", "bank_account.pix_key_unrecognized"),
        ("", "bank_account.pix_key_unrecognized"),
    ],
)
def test_pix_key_detected_but_invalid(raw: str, code: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_pix_key(raw)
    assert caught.value.code == code


def test_pix_email_max_length_accepted() -> None:
    address = "a" * 65 + "@example.com"
    assert len(address) == 77
    assert parse_pix_key(address) == PixKey(EMAIL, address)


def test_pix_detect_without_normalizing() -> None:
    assert detect_pix_key_type("+5521987654321") is PHONE
    assert detect_pix_key_type("00000000-0000-0000-0000-000000000000") is RANDOM


def test_area_codes_cover_anatel_plan() -> None:
    assert len(AREA_CODES) == 67
    assert {11, 21, 61, 71, 81, 91, 99} <= AREA_CODES
    assert not {10, 20, 23, 25, 26, 29, 30, 36, 39, 40, 50, 52, 56, 60, 70, 72} & AREA_CODES


@pytest.mark.parametrize("area", sorted(AREA_CODES))
def test_pix_every_area_code_bare_is_ambiguous(area: int) -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_pix_key(f"{area}987654321")
    assert caught.value.code == "bank_account.pix_key_ambiguous"


@pytest.mark.parametrize(
    ("raw", "key_type"),
    [
        ("+55 ٤٥ 99876-5432", None),
        ("4²998765432", None),
        ("45998765⁴32", PHONE),
        ("٥٢٩٩٨٢٢٤٧25", CPF),
    ],
)
def test_pix_non_ascii_digits_rejected(raw: str, key_type: PixKeyType | None) -> None:
    with pytest.raises(InvalidValue):
        parse_pix_key(raw, key_type=key_type)


def test_pix_nil_random_key_rejected() -> None:
    with pytest.raises(InvalidValue) as caught:
        parse_pix_key("00000000-0000-0000-0000-000000000000")
    assert caught.value.code == "bank_account.random_key_invalid"
