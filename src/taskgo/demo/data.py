"""Generated values the demo sends: places, CPFs, Correios codes and bank details.

The check digits are computed here rather than imported from the domains, because the
demo plays the apps, which compute them on their own side of the API.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Place:
    """A GPS fix as a phone reports it: degrees and an accuracy radius in metres."""

    name: str
    city_id: int
    lat: float
    lng: float
    accuracy: float = 12.0

    def fix(self) -> dict[str, float]:
        return {"lat": self.lat, "lng": self.lng, "accuracy": self.accuracy}

    def query(self) -> dict[str, str]:
        return {"lat": f"{self.lat:.6f}", "lng": f"{self.lng:.6f}", "accuracy": f"{self.accuracy}"}


# IBGE municipality codes.
CASCAVEL_IBGE = 4104808
FOZ_IBGE = 4108304

# Points in the centre of each town, about 1 km or less from the municipal seat.
CASCAVEL = Place("Cascavel/PR", CASCAVEL_IBGE, -24.95728, -53.45904)
CASCAVEL_NORTH = Place("Cascavel/PR", CASCAVEL_IBGE, -24.94851, -53.46130)
FOZ = Place("Foz do Iguaçu/PR", FOZ_IBGE, -25.54268, -54.58271)
FOZ_CENTRE = Place("Foz do Iguaçu/PR", FOZ_IBGE, -25.53913, -54.58764)

_CPF_FIRST_WEIGHTS = range(10, 1, -1)
_CPF_SECOND_WEIGHTS = range(11, 1, -1)
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def _mod11_digit(digits: list[int], weights: range) -> int:
    remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def cpf_check_digits(base: str) -> str:
    """Return the two check digits of a 9-digit CPF base (Receita Federal mod-11 rule)."""
    digits = [int(char) for char in base]
    if len(digits) != 9:
        raise ValueError(f"a CPF base has 9 digits, got {base!r}")
    first = _mod11_digit(digits, _CPF_FIRST_WEIGHTS)
    second = _mod11_digit([*digits, first], _CPF_SECOND_WEIGHTS)
    return f"{first}{second}"


def random_cpf(rng: random.Random) -> str:
    """Return a valid, random 11-digit CPF (never an all-equal sequence, which is invalid)."""
    while True:
        base = "".join(str(rng.randrange(10)) for _ in range(9))
        if len(set(base)) > 1:
            return base + cpf_check_digits(base)


def format_cpf(cpf: str) -> str:
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


def mask_cpf(cpf: str) -> str:
    """Return the CPF as the API shows it (`***.982.247-**`), for printing."""
    return f"***.{cpf[3:6]}.{cpf[6:9]}-**"


def s10_check_digit(serial: str) -> int:
    """Return the check digit of an 8-digit S10 serial (UPU S10, weights 8 6 4 2 3 5 9 7)."""
    remainder = sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    if remainder == 0:
        return 5
    if remainder == 1:
        return 0
    return 11 - remainder


def tracking_code(rng: random.Random, *, service: str = "QB") -> str:
    """Return a valid Correios tracking code: service letters, serial, check digit, `BR`."""
    serial = f"{rng.randrange(10**8):08d}"
    return f"{service}{serial}{s10_check_digit(serial)}BR"


def with_wrong_check_digit(code: str) -> str:
    """Return the code with its check digit changed, as a typo on the label would."""
    digit = (int(code[10]) + 1) % 10
    return f"{code[:10]}{digit}{code[11:]}"


@dataclass(frozen=True, slots=True)
class BankDetails:
    bank: str
    agency: str
    account: str
    account_digit: str
    account_type: str
    pix_key: str | None

    def body(self, *, holder: str, cpf: str) -> dict[str, str]:
        body = {
            "accountHolder": holder,
            "holderDocument": format_cpf(cpf),
            "bank": self.bank,
            "agency": self.agency,
            "account": self.account,
            "accountDigit": self.account_digit,
            "accountType": self.account_type,
        }
        if self.pix_key is not None:
            body["pixKey"] = self.pix_key
        return body


def bank_details(
    rng: random.Random, *, bank: str, account_type: str, pix_key: str | None
) -> BankDetails:
    """Return random agency and account numbers, so a rerun does not collide with earlier
    accounts."""
    return BankDetails(
        bank=bank,
        agency=f"{rng.randrange(1, 10_000):04d}",
        account=f"{rng.randrange(10_000, 100_000_000)}",
        account_digit=str(rng.randrange(10)),
        account_type=account_type,
        pix_key=pix_key,
    )


def random_pix_key(rng: random.Random) -> str:
    """Return a random PIX key (EVP), which is a UUID as the Banco Central issues them."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
