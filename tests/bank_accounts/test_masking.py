import pytest

from taskgo.bank_accounts.documents import DocumentType
from taskgo.bank_accounts.masking import (
    mask_account_number,
    mask_document,
    mask_pix_key,
)
from taskgo.bank_accounts.pix import PixKeyType


@pytest.mark.parametrize(
    ("document_type", "number", "masked"),
    [
        (DocumentType.CPF, "52998224725", "***.982.247-**"),
        (DocumentType.CNPJ, "12ABC34501DE35", "12.ABC.***/****-**"),
        (DocumentType.CPF, "123", "***"),
    ],
)
def test_document_masked(document_type: DocumentType, number: str, masked: str) -> None:
    assert mask_document(document_type, number) == masked


@pytest.mark.parametrize(
    ("number", "digit", "masked"),
    [
        ("123456789", "0", "*****6789-0"),
        ("12345", "X", "***45-X"),
        ("12", None, "*2"),
        ("1", None, "*"),
    ],
)
def test_account_number_masked(number: str, digit: str | None, masked: str) -> None:
    assert mask_account_number(number, digit) == masked


@pytest.mark.parametrize(
    ("key_type", "value", "masked"),
    [
        (PixKeyType.CPF, "52998224725", "***.982.247-**"),
        (PixKeyType.CNPJ, "11222333000181", "11.222.***/****-**"),
        (PixKeyType.EMAIL, "maria.silva@example.com", "m***@example.com"),
        (PixKeyType.PHONE, "+5511987654321", "+55 11 *****-4321"),
        (
            PixKeyType.RANDOM,
            "123e4567-e89b-12d3-a456-426614174000",
            "123e****-****-****-****-********4000",
        ),
    ],
)
def test_pix_key_masked(key_type: PixKeyType, value: str, masked: str) -> None:
    assert mask_pix_key(key_type, value) == masked
