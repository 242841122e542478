from __future__ import annotations

import random
import re
import string
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskgo.support.documents import (
    cnpj_check_digits,
    cpf_check_digits,
    is_luhn_valid,
    is_valid_cnpj,
    is_valid_cpf,
    looks_like_br_phone,
)
from taskgo.support.redaction import redact, redact_data, redact_text

# (text, personal value that must disappear, expected label)
CASES: list[tuple[str, str, str]] = [
    ("Meu CPF é 529.982.247-25, pode conferir?", "529.982.247-25", "[CPF]"),
    ("cpf 52998224725", "52998224725", "[CPF]"),
    ("CPF: 529982247-25", "529982247-25", "[CPF]"),
    ("CPF 529 982 247 25 ok", "529 982 247 25", "[CPF]"),
    ("cpf errado 123.456.789-00 mesmo assim", "123.456.789-00", "[CPF]"),
    ("CPF 111.444.777/35", "111.444.777/35", "[CPF]"),
    ("CNPJ da loja: 11.222.333/0001-81.", "11.222.333/0001-81", "[CNPJ]"),
    ("cnpj 11222333000181", "11222333000181", "[CNPJ]"),
    ("cnpj 11.222.333 0001-81", "11.222.333 0001-81", "[CNPJ]"),
    ("CNPJ novo 12.ABC.345/01DE-35 da empresa", "12.ABC.345/01DE-35", "[CNPJ]"),
    ("cnpj 12ABC34501DE35", "12ABC34501DE35", "[CNPJ]"),
    ("cnpj minúsculo 12.abc.345/01de-35", "12.abc.345/01de-35", "[CNPJ]"),
    ("me liga (11) 98765-4321", "98765-4321", "[TELEFONE]"),
    ("whats +55 11 98765-4321", "98765-4321", "[TELEFONE]"),
    ("+55 (21) 9 8765-4321 é o meu", "8765-4321", "[TELEFONE]"),
    ("tel 11987654321", "11987654321", "[TELEFONE]"),
    ("5511987654321 chama", "5511987654321", "[TELEFONE]"),
    ("fixo (011) 3456-7890", "3456-7890", "[TELEFONE]"),
    ("ligue 21 3456 7890", "3456 7890", "[TELEFONE]"),
    ("celular 98765-4321", "98765-4321", "[TELEFONE]"),
    ("9 8765 4321 é o zap", "8765 4321", "[TELEFONE]"),
    ("whatsapp 3456-7890", "3456-7890", "[TELEFONE]"),
    ("telefone: 3456.7890", "3456.7890", "[TELEFONE]"),
    ("0800 123 4567 da loja", "0800 123 4567", "[TELEFONE]"),
    ("call +1 415 555 0100", "415 555 0100", "[TELEFONE]"),
    ("11.98765.4321 pontuado", "98765.4321", "[TELEFONE]"),
    ("e-mail: maria.souza+compras@gmail.com", "maria.souza+compras@gmail.com", "[E-MAIL]"),
    ("MEU EMAIL JOAO_SILVA@EMPRESA.COM.BR", "JOAO_SILVA@EMPRESA.COM.BR", "[E-MAIL]"),
    ("joao.silva arroba gmail ponto com", "joao.silva arroba gmail", "[E-MAIL]"),
    ("ana [at] uol [dot] com [dot] br", "ana [at] uol", "[E-MAIL]"),
    ("agência 1234-5 e conta 12345-6", "1234-5", "[AGÊNCIA]"),
    ("agência 1234-5 e conta 12345-6", "12345-6", "[CONTA BANCÁRIA]"),
    ("ag 0001 cc 0012345-X", "0012345-X", "[CONTA BANCÁRIA]"),
    ("ag. 3344 c/c 98765-1", "3344", "[AGÊNCIA]"),
    ("conta corrente: 1.234.567-8", "1.234.567-8", "[CONTA BANCÁRIA]"),
    ("conta poupança nº 123456789", "123456789", "[CONTA BANCÁRIA]"),
    ("dados 1234/56789-0 no itaú", "1234/56789-0", "[DADOS BANCÁRIOS]"),
    ("deposita em 0001 / 123456-7", "0001 / 123456-7", "[DADOS BANCÁRIOS]"),
    ("minha conta é 87654-3", "87654-3", "[CONTA BANCÁRIA]"),
    ("IBAN BR15 0000 0000 0000 1093 2840 814 P2", "1093 2840 814", "[NÚMERO]"),
    (
        "chave pix 123e4567-e89b-42d3-a456-426614174000",
        "123e4567-e89b-42d3-a456-426614174000",
        "[CHAVE PIX]",
    ),
    (
        "pix aleatória: 7d9f0a5c8b3e4f2a9c1d6e0b4a7f3c2d",
        "7d9f0a5c8b3e4f2a9c1d6e0b4a7f3c2d",
        "[CHAVE PIX]",
    ),
    ("cartão 4111 1111 1111 1111 venc 12/30", "4111 1111 1111 1111", "[CARTÃO]"),
    ("card 5555-5555-5555-4444", "5555-5555-5555-4444", "[CARTÃO]"),
    ("amex 3782 822463 10005", "3782 822463 10005", "[CARTÃO]"),
    ("4111111111111111", "4111111111111111", "[CARTÃO]"),
    ("RG 12.345.678-9", "12.345.678-9", "[DOCUMENTO]"),
    (
        "boleto 23793.38128 60007.827136 95000.063305 9 84410000002000",
        "60007.827136",
        "[NÚMERO]",
    ),
    ("meu CPF52998224725", "52998224725", "[CPF]"),
    ("CPF_529.982.247-25 ok", "529.982.247-25", "[CPF]"),
    ("zap45998765432valeu", "45998765432", "[TELEFONE]"),
    ("cnpj 11-222-333/0001-81", "11-222-333/0001-81", "[CNPJ]"),
    ("cnpj11.222.333/0001-81", "11.222.333/0001-81", "[CNPJ]"),
    ("e-mail joão.souza@exemplo.com.br", "souza@exemplo", "[E-MAIL]"),
    ("e-mail joao @ gmail.com", "joao @ gmail", "[E-MAIL]"),
    (
        "my random key is 123e4567-e89b-42d3-a456-426614174000",
        "123e4567-e89b-42d3-a456-426614174000",
        "[CHAVE PIX]",
    ),
]


@pytest.mark.parametrize(("text", "secret", "label"), CASES)
def test_redact_formats(text: str, secret: str, label: str) -> None:
    result = redact(text)

    assert secret not in result.text
    assert label in result.text


def test_redact_pix_copia_e_cola() -> None:
    payload = (
        "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
        "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
    )
    result = redact(f"paga esse pix: {payload} obrigado")

    assert result.text == "paga esse pix: [PIX COPIA E COLA] obrigado"
    assert result.counts == {"pix_payload": 1}


def test_redact_counts_by_kind() -> None:
    result = redact("CPF 529.982.247-25, tel (11) 98765-4321, a@b.com e c@d.org")

    assert result.counts == {"cpf": 1, "phone": 1, "email": 2}
    assert result.redacted


KEPT = [
    "Pedido 3f2b1c9e-1d2a-4e5f-8a9b-426614174000 ainda não chegou",
    "Código de rastreio AA123456785BR",
    "rastreio oi123456789br em minúsculas",
    "Paguei R$ 1.234,56 no dia 12/05/2024",
    "valor R$ 100,00 e taxa R$ 5,00",
    "CEP 01310-100, São Paulo",
    "entre 2023-2024 e 2024-2025",
    "comprei 3 itens às 14:30",
    "nota 9/10, entrega em 5 dias",
    "o pedido #3f2b1c9e chegou",
    "Versão 2.3.1 do app",
]


@pytest.mark.parametrize("text", KEPT)
def test_redact_keeps_ids_codes_money(text: str) -> None:
    assert redact(text).text == text


def test_redact_linear_on_dotted_runs() -> None:
    text = "1." * 10_000

    started = time.perf_counter()
    redact(text)

    # Quadratic matching took seconds on this input, and linear matching takes milliseconds.
    assert time.perf_counter() - started < 1.0


def test_redact_uuid_near_pix_word_only() -> None:
    purchase = "3f2b1c9e-1d2a-4e5f-8a9b-426614174000"
    text = f"pix enviado ontem, muitas palavras depois vem o pedido número {purchase}"

    assert purchase in redact_text(text)


def test_redact_data_nested() -> None:
    value = {
        "purchaseId": "3f2b1c9e-1d2a-4e5f-8a9b-426614174000",
        "seller": {"phone": "(11) 98765-4321", "notes": ["cpf 529.982.247-25", 42]},
        "trackingCode": "AA123456785BR",
    }

    redacted = redact_data(value)

    assert redacted == {
        "purchaseId": "3f2b1c9e-1d2a-4e5f-8a9b-426614174000",
        "seller": {"phone": "[TELEFONE]", "notes": ["cpf [CPF]", 42]},
        "trackingCode": "AA123456785BR",
    }


def test_redact_empty_text() -> None:
    result = redact("")

    assert result.text == ""
    assert result.counts == {}


def _random_cpf(rng: random.Random) -> str:
    base = "".join(rng.choice(string.digits) for _ in range(9))
    return base + cpf_check_digits(base)


def _random_cnpj(rng: random.Random, *, alphanumeric: bool) -> str:
    alphabet = string.digits + (string.ascii_uppercase if alphanumeric else "")
    base = "".join(rng.choice(alphabet) for _ in range(12))
    return base + cnpj_check_digits(base)


def _format_cpf(digits: str, style: int) -> str:
    if style == 0:
        return digits
    if style == 1:
        return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"
    if style == 2:
        return f"{digits[:9]}-{digits[9:]}"
    return f"{digits[:3]} {digits[3:6]} {digits[6:9]} {digits[9:]}"


def _format_cnpj(value: str, style: int) -> str:
    if style == 0:
        return value
    return f"{value[:2]}.{value[2:5]}.{value[5:8]}/{value[8:12]}-{value[12:]}"


_FILLER = st.sampled_from(
    ["", "Olá, ", "meu documento é ", "segue: ", "CPF/CNPJ ", "(", "favor conferir "]
)
_TAIL = st.sampled_from(["", ".", " obrigado", ", ok?", ")", "\nabraço"])


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), style=st.integers(0, 3), head=_FILLER, tail=_TAIL)
def test_redact_any_cpf(seed: int, style: int, head: str, tail: str) -> None:
    cpf = _format_cpf(_random_cpf(random.Random(seed)), style)
    text = f"{head}{cpf}{tail}"

    result = redact(text)

    assert re.sub(r"\D", "", cpf) not in re.sub(r"\D", "", result.text)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    style=st.integers(0, 1),
    alphanumeric=st.booleans(),
    head=_FILLER,
    tail=_TAIL,
)
def test_redact_any_cnpj(seed: int, style: int, alphanumeric: bool, head: str, tail: str) -> None:
    cnpj = _format_cnpj(_random_cnpj(random.Random(seed), alphanumeric=alphanumeric), style)

    result = redact(f"{head}{cnpj}{tail}")

    assert cnpj not in result.text
    assert "[CNPJ]" in result.text or "[CPF]" in result.text or "[NÚMERO]" in result.text


@settings(max_examples=300, deadline=None)
@given(
    ddd=st.sampled_from([11, 21, 31, 41, 47, 51, 61, 71, 81, 85, 91, 92]),
    number=st.integers(10_000_000, 99_999_999),
    mobile=st.booleans(),
    style=st.integers(0, 5),
)
def test_redact_any_phone(ddd: int, number: int, mobile: bool, style: int) -> None:
    subscriber = f"9{number}" if mobile else f"{number % 4 + 2}{str(number)[1:]}"
    head, tail = subscriber[:-4], subscriber[-4:]
    formats = [
        f"({ddd}) {head}-{tail}",
        f"{ddd} {head}-{tail}",
        f"+55 {ddd} {head}-{tail}",
        f"+55{ddd}{subscriber}",
        f"{ddd}{subscriber}",
        f"({ddd}){head}{tail}",
    ]
    text = f"me chama no {formats[style]} por favor"

    result = redact(text)

    assert subscriber not in re.sub(r"\D", "", result.text)
    assert "[TELEFONE]" in result.text or "[CPF]" in result.text


@settings(max_examples=200, deadline=None)
@given(
    local=st.from_regex(r"[a-z][a-z0-9._+-]{0,20}[a-z0-9]", fullmatch=True),
    domain=st.from_regex(r"[a-z][a-z0-9-]{0,15}[a-z0-9]", fullmatch=True),
    tld=st.sampled_from(["com", "com.br", "org", "net", "io", "gov.br"]),
)
def test_redact_any_email(local: str, domain: str, tld: str) -> None:
    address = f"{local}@{domain}.{tld}"

    result = redact(f"Meu e-mail: {address}, responda lá.")

    assert "@" not in result.text
    assert "[E-MAIL]" in result.text


@settings(max_examples=200, deadline=None)
@given(uuid_value=st.uuids())
def test_redact_never_touches_plain_uuids(uuid_value: object) -> None:
    text = f"Onde está o pedido {uuid_value}?"

    assert redact_text(text) == text


def test_cpf_check_digits_known_values() -> None:
    assert is_valid_cpf("529.982.247-25")
    assert is_valid_cpf("11144477735")
    assert not is_valid_cpf("529.982.247-26")
    assert not is_valid_cpf("111.111.111-11")
    assert not is_valid_cpf("1234")


def test_cnpj_check_digits_known_values() -> None:
    assert is_valid_cnpj("11.222.333/0001-81")
    assert is_valid_cnpj("12.ABC.345/01DE-35")
    assert is_valid_cnpj("12abc34501de35")
    assert not is_valid_cnpj("12.ABC.345/01DE-36")
    assert not is_valid_cnpj("00.000.000/0000-00")
    assert not is_valid_cnpj("12.ABC.345/01DE-3X")


def test_luhn_and_phone_shapes() -> None:
    assert is_luhn_valid("4111111111111111")
    assert not is_luhn_valid("4111111111111112")
    assert looks_like_br_phone("11987654321")
    assert looks_like_br_phone("5511987654321")
    assert looks_like_br_phone("1134567890")
    assert not looks_like_br_phone("10987654321")
    assert not looks_like_br_phone("11887654321")
