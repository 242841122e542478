"""PIX key parsing: type detection, validation and normalization to the stored form.

Stored forms: CPF as 11 digits, CNPJ as 14 upper-case characters, e-mail in lower case,
phone in E.164 (+55, area code, 9-digit mobile number), random key (EVP) as a lower-case
UUID with hyphens.

Without an explicit type, a value whose shape fits two types is rejected as ambiguous
rather than guessed. The key case is 11 bare digits, which fit a CPF and a mobile number
with its area code. The CPF check digits are not used to break the tie: a CPF with one
mistyped digit would otherwise be stored as another person's phone key, and the payout
would go to that person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from taskgo.bank_accounts.documents import normalize_cnpj, normalize_cpf
from taskgo.bank_accounts.exceptions import InvalidValue

# The DICT (the Banco Central's key directory) limits e-mail keys to 77 characters.
EMAIL_MAX_LENGTH = 77

# Area codes (DDD) in use, per the Anatel numbering plan.
AREA_CODES = frozenset(
    {
        *range(11, 20), 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38,
        *range(41, 50), 51, 53, 54, 55, *range(61, 70), 71, 73, 74, 75, 77, 79,
        *range(81, 90), *range(91, 100),
    }
)  # fmt: skip

_UUID = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE
)
_EMAIL_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_CPF_MASK = re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}")
_CNPJ_MASK = re.compile(r"[0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}/[0-9A-Z]{4}-\d{2}", re.IGNORECASE)
# A phone written with a mark no CPF carries: parentheses, spaces, or "98765-4321" grouping.
_PHONE_MARKS = re.compile(r"[()\s]|\d{4,5}-\d{4}$")
_PHONE_STRIP = re.compile(r"[()\s.-]")
_DOCUMENT_STRIP = re.compile(r"[\s./-]")
# ASCII only: str.isdigit() also takes "٤٥" and "²", and int() fails on the latter.
_DIGITS = re.compile(r"[0-9]+")


class PixKeyType(StrEnum):
    CPF = "cpf"
    CNPJ = "cnpj"
    EMAIL = "email"
    PHONE = "phone"
    RANDOM = "random"


@dataclass(frozen=True, slots=True)
class PixKey:
    type: PixKeyType
    value: str


def normalize_email(value: str) -> str:
    text = value.strip().lower()
    local, at, domain = text.rpartition("@")
    labels = domain.split(".")
    if (
        not at
        or len(text) > EMAIL_MAX_LENGTH
        or not _EMAIL_LOCAL.fullmatch(local)
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidValue("bank_account.email_invalid", max_length=EMAIL_MAX_LENGTH)
    return text


def normalize_phone(value: str) -> str:
    """Return the phone as E.164 (+55DDNNNNNNNNN); accepts +55, 55 or no country prefix."""
    text = _PHONE_STRIP.sub("", value.strip())
    if text.startswith("+"):
        if not text.startswith("+55"):
            raise InvalidValue("bank_account.phone_invalid")
        national = text[3:]
    elif len(text) == 13 and text.startswith("55"):
        national = text[2:]
    else:
        national = text

    if not _DIGITS.fullmatch(national) or len(national) != 11:
        raise InvalidValue("bank_account.phone_invalid")
    if int(national[:2]) not in AREA_CODES or national[2] != "9":
        raise InvalidValue("bank_account.phone_invalid")
    return f"+55{national}"


def normalize_random_key(value: str) -> str:
    text = value.strip().lower()
    if not _UUID.fullmatch(text):
        raise InvalidValue("bank_account.random_key_invalid")
    bare = text.replace("-", "")
    if bare == "0" * 32:
        # The nil UUID is a placeholder, never a key the DICT issued.
        raise InvalidValue("bank_account.random_key_invalid")
    return f"{bare[:8]}-{bare[8:12]}-{bare[12:16]}-{bare[16:20]}-{bare[20:]}"


_NORMALIZERS = {
    PixKeyType.CPF: normalize_cpf,
    PixKeyType.CNPJ: normalize_cnpj,
    PixKeyType.EMAIL: normalize_email,
    PixKeyType.PHONE: normalize_phone,
    PixKeyType.RANDOM: normalize_random_key,
}


def _could_be_mobile(national: str) -> bool:
    return len(national) == 11 and int(national[:2]) in AREA_CODES and national[2] == "9"


def detect_pix_key_type(value: str) -> PixKeyType:
    """Tell the type of a PIX key from its shape alone; raise when unknown or ambiguous."""
    text = value.strip()
    if "@" in text:
        return PixKeyType.EMAIL
    if _UUID.fullmatch(text):
        return PixKeyType.RANDOM
    if text.startswith("+"):
        return PixKeyType.PHONE
    if _CPF_MASK.fullmatch(text):
        return PixKeyType.CPF
    if _CNPJ_MASK.fullmatch(text):
        return PixKeyType.CNPJ
    if _PHONE_MARKS.search(text):
        return PixKeyType.PHONE

    bare = _DOCUMENT_STRIP.sub("", text).upper()
    only_digits = _DIGITS.fullmatch(bare) is not None
    if len(bare) == 14 and re.fullmatch(r"[0-9A-Z]{12}[0-9]{2}", bare):
        return PixKeyType.CNPJ
    if only_digits and len(bare) == 13 and bare.startswith("55"):
        return PixKeyType.PHONE
    if only_digits and len(bare) == 11:
        if _could_be_mobile(bare):
            raise InvalidValue(
                "bank_account.pix_key_ambiguous",
                candidates=[PixKeyType.CPF.value, PixKeyType.PHONE.value],
            )
        return PixKeyType.CPF
    if only_digits and len(bare) == 10:
        # Area code plus an 8-digit landline: PIX phone keys are mobile numbers only.
        raise InvalidValue("bank_account.phone_invalid")
    raise InvalidValue("bank_account.pix_key_unrecognized")


def parse_pix_key(value: str, *, key_type: PixKeyType | None = None) -> PixKey:
    """Validate and normalize a PIX key, detecting its type when `key_type` is None."""
    resolved = key_type if key_type is not None else detect_pix_key_type(value)
    return PixKey(resolved, _NORMALIZERS[resolved](value))
