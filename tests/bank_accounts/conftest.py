"""Fixtures for the bank account tests: partners with and without a verified CPF."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from taskgo.bank_accounts.sealing import VERIFIED_CPF_CONTEXT
from taskgo.crypto import encrypt_field
from taskgo.users.models import User

# Valid documents used across the tests (check digits computed, not real people).
PARTNER_CPF = "52998224725"
OTHER_CPF = "11144477735"
COMPANY_CNPJ = "12ABC34501DE35"


def account_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accountHolder": "Ana Souza",
        "holderDocument": "529.982.247-25",
        "bank": "260",
        "agency": "0001",
        "account": "12345678",
        "accountDigit": "9",
        "accountType": "checking",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def verified_fields(cpf: str = PARTNER_CPF) -> dict[str, Any]:
    return {
        "verification_status": "verified",
        "verified_cpf_encrypted": encrypt_field(cpf, context=VERIFIED_CPF_CONTEXT),
        "verified_at": datetime.now(UTC),
    }


@pytest.fixture
async def partner(make_user: Callable[..., Awaitable[User]]) -> User:
    return await make_user(role="partner", name="Ana Souza", **verified_fields())


@pytest.fixture
def partner_headers(
    partner: User, auth_headers: Callable[[User], dict[str, str]]
) -> dict[str, str]:
    return auth_headers(partner)
