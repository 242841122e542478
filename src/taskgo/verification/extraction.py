"""Field extraction from OCR text of Brazilian identity documents (RG, CNH).

Pure text processing, separate from the OCR itself so it can be tested on exact strings.
OCR output is noisy: letters stand in for digits ("O" for 0, "l" for 1), separators go
missing or double, labels and values split across lines. The parsers accept that noise
but validate what they return (CPF check digits, real calendar dates).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from difflib import SequenceMatcher
from enum import StrEnum

CPF_LENGTH = 11
MIN_AGE_YEARS = 18
MAX_AGE_YEARS = 120

# Characters OCR engines commonly read in place of digits.
_DIGIT_LOOKALIKES = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "Q": "0",
        "D": "0",
        "I": "1",
        "l": "1",
        "|": "1",
        "!": "1",
        "S": "5",
        "s": "5",
        "B": "8",
        "Z": "2",
        "z": "2",
    }
)
_DIGITISH = r"[0-9OoQDIl|!SsBZz]"
_CPF_PATTERN = re.compile(
    rf"(?<![0-9A-Za-z])({_DIGITISH}{{3}})\s?[.,·]?\s?({_DIGITISH}{{3}})\s?[.,·]?\s?"
    rf"({_DIGITISH}{{3}})\s?[-–—.,]?\s?({_DIGITISH}{{2}})(?![0-9A-Za-z])"
)
# A candidate must contain at least this many real digits, so a run of capital letters
# such as "SIL ..." can never be read as a CPF.
_MIN_REAL_DIGITS = 9

_DATE_PATTERN = re.compile(r"(?<!\d)(\d{1,2})\s?[/.\-]\s?(\d{1,2})\s?[/.\-]\s?(\d{4})(?!\d)")

# Words that label a field on RG and CNH cards and never belong to a person's name.
_LABEL_WORDS = frozenset(
    {
        "NOME",
        "SOBRENOME",
        "NAME",
        "FILIACAO",
        "CPF",
        "DATA",
        "NASCIMENTO",
        "NASC",
        "REPUBLICA",
        "FEDERATIVA",
        "BRASIL",
        "CARTEIRA",
        "IDENTIDADE",
        "REGISTRO",
        "GERAL",
        "VALIDADE",
        "HABILITACAO",
        "NACIONAL",
        "ORGAO",
        "EMISSOR",
        "NATURALIDADE",
        "EXPEDICAO",
        "DOC",
        "ASSINATURA",
        "MINISTERIO",
        "SECRETARIA",
        "ESTADO",
        "CATEGORIA",
    }
)
_NAME_PARTICLES = frozenset({"DE", "DA", "DO", "DAS", "DOS", "E", "D"})
_NAME_LABEL = re.compile(r"^(?:\d+\s*(?:E\s*\d+\s*)?)?NOME\b(?!\s+(?:DO|DA)\s+(?:PAI|MAE))")
_BIRTH_LABEL = re.compile(r"\bNASC")


@dataclass(frozen=True, slots=True)
class DocumentFields:
    """Values read from a document; None where the text held nothing valid."""

    cpf: str | None = None
    name: str | None = None
    birth_date: date | None = None

    def count(self) -> int:
        return sum(value is not None for value in (self.cpf, self.name, self.birth_date))


class NameMatch(StrEnum):
    MATCH = "match"
    # Every word of the profile name is on the document, but the profile name is a
    # single word, too little to tell two people apart.
    PARTIAL = "partial"
    MISMATCH = "mismatch"
    MISSING = "missing"


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def is_valid_cpf(digits: str) -> bool:
    """Check an 11-digit CPF's two mod-11 check digits; repeated digits are invalid."""
    # isdigit() alone also accepts digits such as "²" and "٥", which int() rejects or reads.
    if len(digits) != CPF_LENGTH or not (digits.isascii() and digits.isdigit()):
        return False
    if len(set(digits)) == 1:
        return False
    values = [int(char) for char in digits]
    for position in (9, 10):
        total = sum(value * (position + 1 - index) for index, value in enumerate(values[:position]))
        remainder = total * 10 % 11
        if remainder % 10 != values[position]:
            return False
    return True


def mask_cpf(digits: str) -> str:
    """Return the CPF with only its middle digits shown: `***.456.789-**`."""
    return f"***.{digits[3:6]}.{digits[6:9]}-**"


def find_cpfs(text: str) -> list[str]:
    """Return the valid CPFs in the text, in order, without duplicates."""
    found: list[str] = []
    for match in _CPF_PATTERN.finditer(text):
        raw = "".join(match.groups())
        if sum(char.isdigit() for char in raw) < _MIN_REAL_DIGITS:
            continue
        digits = raw.translate(_DIGIT_LOOKALIKES)
        if is_valid_cpf(digits) and digits not in found:
            found.append(digits)
    return found


def find_cpf(text: str) -> str | None:
    """Return the CPF next to a "CPF" label, else the first valid CPF in the text."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if "CPF" in line.upper():
            nearby = "\n".join(lines[index : index + 3])
            labelled = find_cpfs(nearby)
            if labelled:
                return labelled[0]
    candidates = find_cpfs(text)
    return candidates[0] if candidates else None


def find_dates(text: str) -> list[date]:
    found: list[date] = []
    for day, month, year in _DATE_PATTERN.findall(text):
        try:
            found.append(date(int(year), int(month), int(day)))
        except ValueError:
            continue
    return found


def _plausible_birth_date(candidate: date, today: date) -> bool:
    age = age_on(candidate, today)
    return candidate <= today and 0 <= age <= MAX_AGE_YEARS


def find_birth_date(text: str, *, today: date) -> date | None:
    """Return the date labelled as birth date, else the earliest plausible date.

    Cards also carry issue, validity and first-licence dates, all later than the birth
    date, so the earliest date is the birth date when the label was not read.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if _BIRTH_LABEL.search(strip_accents(line).upper()):
            for candidate in find_dates("\n".join(lines[index : index + 3])):
                if _plausible_birth_date(candidate, today):
                    return candidate
    plausible = [value for value in find_dates(text) if _plausible_birth_date(value, today)]
    return min(plausible) if plausible else None


def age_on(birth_date: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - int(before_birthday)


def _clean_name(line: str) -> str | None:
    # Keep letters (accented ones included), spaces, apostrophes and hyphens.
    name_characters = "".join(char for char in line if char.isalpha() or char in " '-")
    words = name_characters.split()
    if len(words) < 2:
        return None
    letters = sum(char.isalpha() for char in line)
    others = sum(not char.isalpha() and not char.isspace() and char not in "'-" for char in line)
    if letters < 5 or others > letters * 0.1:
        return None
    plain_words = {strip_accents(word).upper() for word in words}
    if plain_words & _LABEL_WORDS:
        return None
    return " ".join(words).upper()


def find_name(text: str) -> str | None:
    """Return the holder's name: the value after a "NOME" label, on its line or below."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        plain = strip_accents(line).upper()
        label = _NAME_LABEL.match(plain)
        if not label:
            continue
        # The label itself may run on ("NOME E SOBRENOME", "NOME / NAME").
        rest = re.sub(r"^[\s:/]*(?:E\s+SOBRENOME)?[\s:/]*(?:NAME)?[\s:]*", "", line[label.end() :])
        for candidate in (rest, *lines[index + 1 : index + 3]):
            name = _clean_name(candidate)
            if name:
                return name
    return None


def extract_fields(text: str, *, today: date) -> DocumentFields:
    return DocumentFields(
        cpf=find_cpf(text),
        name=find_name(text),
        birth_date=find_birth_date(text, today=today),
    )


def merge_fields(sides: Iterable[DocumentFields]) -> DocumentFields:
    """Combine the fields of several document sides; earlier sides win."""
    cpf: str | None = None
    name: str | None = None
    birth_date: date | None = None
    for side in sides:
        cpf = cpf or side.cpf
        name = name or side.name
        birth_date = birth_date or side.birth_date
    return DocumentFields(cpf=cpf, name=name, birth_date=birth_date)


def name_tokens(name: str) -> list[str]:
    plain = re.sub(r"[^A-Z ]", " ", strip_accents(name).upper())
    return [token for token in plain.split() if token not in _NAME_PARTICLES]


def _same_word(first: str, second: str) -> bool:
    if first == second:
        return True
    # One misread letter in a long word is OCR noise, not a different name.
    return min(len(first), len(second)) >= 5 and SequenceMatcher(None, first, second).ratio() >= 0.8


def compare_names(document_name: str | None, profile_name: str) -> NameMatch:
    """Compare the name on the document with the name on the partner's profile.

    Profiles often shorten a name ("José Araújo" for "JOSÉ CONCEIÇÃO DA SILVA ARAÚJO"),
    so every profile word must appear on the document in the same order, the first names
    must agree, and accents, case and particles (da, de, dos ...) are ignored.
    """
    if not document_name:
        return NameMatch.MISSING
    document = name_tokens(document_name)
    profile = name_tokens(profile_name)
    if not document or not profile or not _same_word(document[0], profile[0]):
        return NameMatch.MISMATCH

    position = 0
    for word in profile:
        while position < len(document) and not _same_word(document[position], word):
            position += 1
        if position == len(document):
            return NameMatch.MISMATCH
        position += 1
    return NameMatch.MATCH if len(profile) >= 2 else NameMatch.PARTIAL
