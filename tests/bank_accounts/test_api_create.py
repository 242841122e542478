import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from taskgo.admin.models import AuditLog
from taskgo.bank_accounts.models import BankAccount
from taskgo.users.models import User

from .conftest import COMPANY_CNPJ, OTHER_CPF, account_body, verified_fields

Headers = Callable[[User], dict[str, str]]
MakeUser = Callable[..., Awaitable[User]]


async def count_accounts(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(BankAccount)) or 0)


async def test_create_first_account_primary_and_masked(
    client: httpx.AsyncClient, db: AsyncSession, partner: User, partner_headers: dict[str, str]
) -> None:
    body = account_body(pixKey="ana.souza@example.com")
    response = await client.post("/api/bank-accounts", json=body, headers=partner_headers)

    assert response.status_code == 201, response.text
    data = response.json()
    assert data["isPrimary"] is True
    assert data["accountHolder"] == "Ana Souza"
    assert data["holderDocument"] == "***.982.247-**"
    assert data["holderDocumentType"] == "cpf"
    assert data["bank"] == {
        "code": "260",
        "ispb": "18236120",
        "name": "Nu Pagamentos S.A.",
        "shortName": "NU PAGAMENTOS S.A.",
    }
    assert data["agency"] == "0001"
    assert data["agencyDigit"] is None
    assert data["account"] == "****5678-9"
    assert data["accountType"] == "checking"
    assert data["pixKey"] == "a***@example.com"
    assert data["pixKeyType"] == "email"
    assert data["reviewStatus"] == "clear"
    assert data["reviewReasons"] == []
    assert "52998224725" not in response.text
    assert "12345678" not in response.text

    audit = (await db.scalars(select(AuditLog).where(AuditLog.target_id == data["id"]))).all()
    assert [entry.action for entry in audit] == ["bank_account.created"]
    assert audit[0].actor_id == partner.id
    assert audit[0].details["is_primary"] is True
    assert "52998224725" not in str(audit[0].details)


async def test_create_second_account_not_primary(
    client: httpx.AsyncClient, partner_headers: dict[str, str]
) -> None:
    first = await client.post("/api/bank-accounts", json=account_body(), headers=partner_headers)
    second = await client.post(
        "/api/bank-accounts",
        json=account_body(bank="001", agency="1234-5", account="998877-X", accountDigit=None),
        headers=partner_headers,
    )

    assert first.status_code == 201
    assert second.status_code == 201, second.text
    assert second.json()["isPrimary"] is False
    assert second.json()["agencyDigit"] == "5"
    assert second.json()["account"] == "***877-X"


async def test_secrets_encrypted_at_rest(
    client: httpx.AsyncClient, db: AsyncSession, partner_headers: dict[str, str]
) -> None:
    body = account_body(pixKey="+55 11 98765-4321")
    response = await client.post("/api/bank-accounts", json=body, headers=partner_headers)
    assert response.status_code == 201

    row = (
        await db.execute(
            text(
                "SELECT holder_document_encrypted, account_encrypted, pix_key_encrypted,"
                " account_fingerprint, pix_key_fingerprint FROM bank_accounts WHERE id = :id"
            ),
            {"id": response.json()["id"]},
        )
    ).one()
    stored = " ".join(row)
    for secret in ("52998224725", "12345678", "5511987654321", "98765"):
        assert secret not in stored
    for token in row[:3]:
        assert token.startswith("test1:")
    assert len(row.account_fingerprint) == 64


async def test_ciphertext_bound_to_row(
    client: httpx.AsyncClient, db: AsyncSession, partner_headers: dict[str, str]
) -> None:
    from taskgo.bank_accounts import sealing
    from taskgo.crypto import FieldDecryptionError

    first = await client.post("/api/bank-accounts", json=account_body(), headers=partner_headers)
    account = await db.get(BankAccount, uuid.UUID(first.json()["id"]))
    assert account is not None

    assert sealing.unseal(account.id, sealing.ACCOUNT, account.account_encrypted) == "12345678-9"
    with pytest.raises(FieldDecryptionError):
        sealing.unseal(uuid.uuid4(), sealing.ACCOUNT, account.account_encrypted)
    with pytest.raises(FieldDecryptionError):
        sealing.unseal(account.id, sealing.PIX_KEY, account.account_encrypted)


@pytest.mark.parametrize("role", ["client", "admin"])
async def test_create_non_partner_forbidden(
    client: httpx.AsyncClient,
    db: AsyncSession,
    make_user: MakeUser,
    auth_headers: Headers,
    role: str,
) -> None:
    user = await make_user(role=role)
    response = await client.post(
        "/api/bank-accounts", json=account_body(), headers=auth_headers(user)
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.role_required"
    assert await count_accounts(db) == 0


async def test_create_requires_token(client: httpx.AsyncClient, db: AsyncSession) -> None:
    response = await client.post("/api/bank-accounts", json=account_body())
    assert response.status_code == 401
    assert await count_accounts(db) == 0


INVALID_FIELDS = [
    ({"holderDocument": "529.982.247-24"}, "holderDocument", "bank_account.cpf_invalid"),
    ({"holderDocument": "12ABC34501DE36"}, "holderDocument", "bank_account.cnpj_invalid"),
    ({"holderDocument": "123"}, "holderDocument", "bank_account.document_invalid"),
    ({"accountHolder": "A"}, "accountHolder", "bank_account.holder_name_invalid"),
    ({"accountHolder": "Ana 2 Souza"}, "accountHolder", "bank_account.holder_name_invalid"),
    ({"bank": "999"}, "bank", "bank_account.bank_unknown"),
    # JSON true used to pass as the integer 1 (Banco do Brasil).
    ({"bank": True}, "bank", "bank_account.bank_invalid"),
    ({"bank": 1.5}, "bank", "bank_account.bank_invalid"),
    ({"bank": ["260"]}, "bank", "bank_account.bank_invalid"),
    ({"agency": "12345"}, "agency", "bank_account.agency_invalid"),
    ({"agencyDigit": "55"}, "agencyDigit", "bank_account.agency_digit_invalid"),
    ({"account": "12A45"}, "account", "bank_account.account_invalid"),
    ({"accountDigit": None}, "accountDigit", "bank_account.account_digit_missing"),
    (
        {"account": "123-4", "accountDigit": "5"},
        "accountDigit",
        "bank_account.account_digit_conflict",
    ),
    ({"pixKey": "11987654321"}, "pixKey", "bank_account.pix_key_ambiguous"),
    ({"pixKey": "hello"}, "pixKey", "bank_account.pix_key_unrecognized"),
    ({"pixKey": "maria@", "pixKeyType": "email"}, "pixKey", "bank_account.email_invalid"),
    ({"pixKeyType": "phone"}, "pixKey", "bank_account.pix_key_type_without_key"),
    ({"accountType": "salary"}, "accountType", "validation.enum"),
]


@pytest.mark.parametrize(("overrides", "field", "code"), INVALID_FIELDS)
async def test_create_invalid_field_named(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner_headers: dict[str, str],
    overrides: dict[str, Any],
    field: str,
    code: str,
) -> None:
    response = await client.post(
        "/api/bank-accounts", json=account_body(**overrides), headers=partner_headers
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["details"]["field"] == field
    assert error["message"] != code
    assert await count_accounts(db) == 0


async def test_create_reports_every_invalid_field(
    client: httpx.AsyncClient, partner_headers: dict[str, str]
) -> None:
    body = account_body(holderDocument="111.111.111-11", bank="999", pixKey="21999998888")
    response = await client.post(
        "/api/bank-accounts", json=body, headers={**partner_headers, "Accept-Language": "en"}
    )

    assert response.status_code == 422
    errors = response.json()["error"]["details"]["errors"]
    assert [(item["field"], item["code"]) for item in errors] == [
        ("holderDocument", "bank_account.cpf_invalid"),
        ("bank", "bank_account.bank_unknown"),
        ("pixKey", "bank_account.pix_key_ambiguous"),
    ]
    assert errors[0]["message"].startswith("Invalid CPF")
    assert errors[1]["message"] == (
        'Bank "999" not found. Enter the 3-digit COMPE code, for example 001 for Banco do Brasil.'
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("bank", "1" * 41), ("bank", 10**41), ("agency", "1" * 41)],
    ids=["bank-text", "bank-integer", "agency"],
)
@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("pt-BR", "O campo {field} deve ter no máximo 40 caracteres."),
        ("en", "The field {field} must have at most 40 characters."),
    ],
)
async def test_long_text_counts_characters(
    client: httpx.AsyncClient,
    partner_headers: dict[str, str],
    field: str,
    value: object,
    language: str,
    message: str,
) -> None:
    # The bank code, taken as text or as a JSON integer, was measured as a list ("40 items").
    response = await client.post(
        "/api/bank-accounts",
        json=account_body(**{field: value}),
        headers={**partner_headers, "Accept-Language": language},
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation.string_too_long"
    assert error["details"]["field"] == field
    assert error["message"] == message.format(field=field)


async def test_create_error_message_portuguese_default(
    client: httpx.AsyncClient, partner_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/api/bank-accounts", json=account_body(pixKey="11987654321"), headers=partner_headers
    )
    assert response.json()["error"]["message"] == (
        "Essa chave PIX pode ser um CPF ou um celular. Informe o tipo da chave."
    )


@pytest.mark.parametrize(
    ("pix_key", "pix_key_type", "masked"),
    [
        ("11987654321", "phone", "+55 11 *****-4321"),
        ("52998224725", "cpf", "***.982.247-**"),
        ("529.982.247-25", None, "***.982.247-**"),
        ("12.abc.345/01de-35", None, "12.ABC.***/****-**"),
        ("123E4567-E89B-12D3-A456-426614174000", None, "123e****-****-****-****-********4000"),
    ],
)
async def test_create_pix_key_types(
    client: httpx.AsyncClient,
    partner_headers: dict[str, str],
    pix_key: str,
    pix_key_type: str | None,
    masked: str,
) -> None:
    body = account_body(pixKey=pix_key, pixKeyType=pix_key_type)
    response = await client.post("/api/bank-accounts", json=body, headers=partner_headers)

    assert response.status_code == 201, response.text
    assert response.json()["pixKey"] == masked


async def test_create_snake_case_accepted(
    client: httpx.AsyncClient, partner_headers: dict[str, str]
) -> None:
    body = {
        "account_holder": "Ana Souza",
        "holder_document": "52998224725",
        "bank": 1,
        "agency": "1234",
        "account": "5566",
        "account_digit": "0",
        "account_type": "savings",
    }
    response = await client.post("/api/bank-accounts", json=body, headers=partner_headers)

    assert response.status_code == 201, response.text
    assert response.json()["bank"]["code"] == "001"
    assert response.json()["accountType"] == "savings"


async def test_create_duplicate_account_rejected(
    client: httpx.AsyncClient, db: AsyncSession, partner_headers: dict[str, str]
) -> None:
    first = await client.post("/api/bank-accounts", json=account_body(), headers=partner_headers)
    # Same account written differently: zero padding, digit inline, bank code unpadded.
    again = account_body(bank=260, agency="1", account="0012345678-9", accountDigit=None)
    second = await client.post("/api/bank-accounts", json=again, headers=partner_headers)

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "bank_account.duplicate"
    assert second.json()["error"]["details"]["field"] == "account"
    assert await count_accounts(db) == 1


async def test_create_duplicate_pix_key_rejected(
    client: httpx.AsyncClient, db: AsyncSession, partner_headers: dict[str, str]
) -> None:
    first = await client.post(
        "/api/bank-accounts", json=account_body(pixKey="Ana@Example.com"), headers=partner_headers
    )
    second = await client.post(
        "/api/bank-accounts",
        json=account_body(account="555", pixKey="ana@example.com"),
        headers=partner_headers,
    )

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "bank_account.pix_key_duplicate"
    assert second.json()["error"]["details"]["field"] == "pixKey"
    assert await count_accounts(db) == 1


async def test_create_limit_reached(
    client: httpx.AsyncClient, db: AsyncSession, partner_headers: dict[str, str]
) -> None:
    from taskgo.bank_accounts.service import MAX_ACCOUNTS_PER_PARTNER

    for number in range(MAX_ACCOUNTS_PER_PARTNER):
        created = await client.post(
            "/api/bank-accounts",
            json=account_body(account=f"{1000 + number}"),
            headers=partner_headers,
        )
        assert created.status_code == 201

    response = await client.post(
        "/api/bank-accounts", json=account_body(account="9999"), headers=partner_headers
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "bank_account.limit_reached"
    assert await count_accounts(db) == MAX_ACCOUNTS_PER_PARTNER


async def test_create_idempotent_replay(
    client: httpx.AsyncClient, db: AsyncSession, partner_headers: dict[str, str]
) -> None:
    headers = {**partner_headers, "Idempotency-Key": "create-account-1"}
    first = await client.post("/api/bank-accounts", json=account_body(), headers=headers)
    second = await client.post("/api/bank-accounts", json=account_body(), headers=headers)
    other_body = await client.post(
        "/api/bank-accounts", json=account_body(account="777"), headers=headers
    )

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "request.idempotency_key_reused"
    assert await count_accounts(db) == 1

    stored = await db.scalar(
        text("SELECT request_hash || response_body::text FROM idempotency_keys")
    )
    assert stored is not None
    assert "52998224725" not in stored
    assert "12345678" not in stored


async def test_holder_cpf_mismatch_flagged(
    client: httpx.AsyncClient, partner_headers: dict[str, str]
) -> None:
    body = account_body(holderDocument=OTHER_CPF, accountHolder="Bruno Lima")
    response = await client.post("/api/bank-accounts", json=body, headers=partner_headers)

    assert response.status_code == 201
    data = response.json()
    assert data["reviewStatus"] == "pending_review"
    assert [reason["code"] for reason in data["reviewReasons"]] == ["holder_cpf_mismatch"]
    assert data["reviewReasons"][0]["message"].startswith("O CPF do titular é diferente")


async def test_holder_cnpj_accepted(
    client: httpx.AsyncClient, partner_headers: dict[str, str]
) -> None:
    body = account_body(holderDocument="12.ABC.345/01DE-35", accountHolder="Oficina 2 Irmãos Ltda")
    response = await client.post("/api/bank-accounts", json=body, headers=partner_headers)

    assert response.status_code == 201, response.text
    assert response.json()["reviewStatus"] == "clear"
    assert response.json()["holderDocument"] == "12.ABC.***/****-**"
    assert response.json()["holderDocumentType"] == "cnpj"


async def test_unverified_partner_flagged(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    partner = await make_user(role="partner")
    response = await client.post(
        "/api/bank-accounts", json=account_body(), headers=auth_headers(partner)
    )

    assert response.status_code == 201
    assert response.json()["reviewStatus"] == "pending_review"
    assert [r["code"] for r in response.json()["reviewReasons"]] == ["identity_unverified"]


async def test_account_shared_between_partners_flagged(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth_headers: Headers,
    partner_headers: dict[str, str],
) -> None:
    other = await make_user(role="partner", name="Bruno Lima", **verified_fields(OTHER_CPF))
    body = account_body(pixKey="+5511987654321")
    mine = await client.post("/api/bank-accounts", json=body, headers=partner_headers)
    theirs = await client.post(
        "/api/bank-accounts",
        json={**body, "holderDocument": OTHER_CPF, "accountHolder": "Bruno Lima"},
        headers=auth_headers(other),
    )

    assert mine.status_code == 201
    assert mine.json()["reviewStatus"] == "clear"
    assert theirs.status_code == 201
    assert theirs.json()["reviewStatus"] == "pending_review"
    assert [r["code"] for r in theirs.json()["reviewReasons"]] == [
        "account_shared",
        "pix_key_shared",
    ]


async def test_company_cnpj_constant_valid() -> None:
    from taskgo.bank_accounts.documents import normalize_cnpj

    assert normalize_cnpj(COMPANY_CNPJ) == COMPANY_CNPJ


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"account": "12³45"}, "account"),
        ({"agency": "1²34"}, "agency"),
        ({"account": "١٢٣٤٥"}, "account"),
        ({"pixKey": "4²998765432"}, "pixKey"),
    ],
)
async def test_create_non_ascii_digits_rejected(
    client: httpx.AsyncClient,
    db: AsyncSession,
    partner_headers: dict[str, str],
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(
        "/api/bank-accounts", json=account_body(**overrides), headers=partner_headers
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert await count_accounts(db) == 0
