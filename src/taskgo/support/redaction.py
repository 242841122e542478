"""Redaction of personal data before text leaves the server for a language model.

Detectors find CPF, CNPJ (numeric and the alphanumeric form), bank agency and account
numbers, PIX keys and PIX "copia e cola" payloads, payment card numbers, phone numbers and
e-mail addresses. Each match is replaced by a bracketed label such as `[CPF]`, so the model
can still see that a document was mentioned, but not which one.

The detectors err on the side of redacting: an 11-digit number with a wrong CPF check digit
is still treated as a CPF. Purchase ids (UUIDs), Correios tracking codes and money amounts
are protected, because the assistant needs them to look up orders.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from taskgo.support.documents import (
    is_luhn_valid,
    is_valid_cnpj,
    is_valid_cpf,
    looks_like_br_phone,
)

LABELS: dict[str, str] = {
    "cpf": "[CPF]",
    "cnpj": "[CNPJ]",
    "document": "[DOCUMENTO]",
    "agency": "[AGÊNCIA]",
    "account": "[CONTA BANCÁRIA]",
    "bank_details": "[DADOS BANCÁRIOS]",
    "pix_key": "[CHAVE PIX]",
    "pix_payload": "[PIX COPIA E COLA]",
    "card": "[CARTÃO]",
    "phone": "[TELEFONE]",
    "email": "[E-MAIL]",
    "number": "[NÚMERO]",
}

# Boundaries that keep a detector from starting or ending inside a longer token.
_START = r"(?<![\w@])"
_END = r"(?![\w@]|[.,/-]\w)"
# Numbers glued to a word still count on their own: "CPF12345678909", "tel45998765432zap".
# Only for detectors that start (or end) with a digit, so letters cannot join the match.
_NUMBER_START = r"(?:(?<![\w@])|(?<=[^\W\d])(?=\d))"
_NUMBER_END = r"(?:(?<=\d)(?=[^\W\d])|(?![\w@]|[.,/-]\w))"

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PIX_CONTEXT = re.compile(
    r"(?:\bpix\b|\bchave\b|\bevp\b|\baleat[óo]ria\b|\brandom\s+key\b)", re.IGNORECASE
)
# How far back (in characters) a mention of PIX makes a UUID count as a random PIX key.
_PIX_CONTEXT_WINDOW = 40


@dataclass(frozen=True, slots=True)
class _Span:
    start: int
    end: int
    kind: str


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """Redacted text and how many items of each kind were replaced."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def redacted(self) -> bool:
        return bool(self.counts)


Classifier = Callable[[re.Match[str], str], str | None]


@dataclass(frozen=True, slots=True)
class _Detector:
    pattern: re.Pattern[str]
    # Returns the kind for a match, or None to skip it. Receives the whole text too, so a
    # detector can look at the words before the match.
    classify: Classifier
    group: int = 0


def _fixed(kind: str) -> Classifier:
    def classify(match: re.Match[str], text: str) -> str | None:
        return kind

    return classify


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _classify_cnpj(match: re.Match[str], text: str) -> str | None:
    raw = match.group(0)
    compact = re.sub(r"[.\-/\s]", "", raw).upper()
    punctuated = "/" in raw or raw.count(".") == 2
    if compact.isdigit():
        # A 14-digit run with CNPJ punctuation or a valid check digit is a CNPJ. Bare runs
        # with a wrong check digit are left for the long-number detector.
        return "cnpj" if punctuated or is_valid_cnpj(compact) else None
    # Letters: only the alphanumeric CNPJ form, which always ends in two numeric check
    # digits. Without punctuation, require valid check digits so product codes and other
    # tokens of 14 characters survive.
    if not compact[-2:].isdigit():
        return None
    if punctuated and re.search(r"\d", compact[:12]):
        return "cnpj"
    return "cnpj" if is_valid_cnpj(compact) else None


def _classify_long_number(match: re.Match[str], text: str) -> str | None:
    digits = _digits(match.group(0))
    if len(digits) == 11 and is_valid_cpf(digits):
        return "cpf"
    if len(digits) == 14 and is_valid_cnpj(digits):
        return "cnpj"
    if 13 <= len(digits) <= 19 and is_luhn_valid(digits):
        return "card"
    if looks_like_br_phone(digits):
        return "phone"
    if len(digits) == 11:
        return "cpf"
    return "number"


def _classify_card(match: re.Match[str], text: str) -> str | None:
    return "card" if is_luhn_valid(_digits(match.group(0))) else None


def _classify_uuid(match: re.Match[str], text: str) -> str | None:
    before = text[max(0, match.start() - _PIX_CONTEXT_WINDOW) : match.start()]
    return "pix_key" if _PIX_CONTEXT.search(before) else None


def _classify_pix_payload(match: re.Match[str], text: str) -> str | None:
    return "pix_payload" if "br.gov.bcb.pix" in match.group(0).lower() else None


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.VERBOSE)


# Ordered by priority: when two matches overlap, the earlier detector wins.
_DETECTORS: tuple[_Detector, ...] = (
    # EMV "copia e cola" payload: starts with the payload format indicator 000201 and ends
    # with the CRC field 6304XXXX. Merchant names inside may contain spaces.
    _Detector(_compile(r"000201[^\n]{20,}?6304[0-9A-F]{4}|000201\S{20,}"), _classify_pix_payload),
    _Detector(
        _compile(
            # \w, not A-Z: "joão@exemplo.com.br" is still someone's address.
            r"(?<![\w.+-])\w[\w.%+-]*[ \t]?@[ \t]?[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}"
        ),
        _fixed("email"),
    ),
    # Spelled-out addresses people type to dodge filters: "joao arroba gmail ponto com".
    # Starting only at a token's start keeps "1.1.1.1..." from taking quadratic time.
    _Detector(
        _compile(
            r"""(?<![\w.+-])[\w.+-]+\s*(?:\s(?:arroba|at)\s|\(at\)|\[at\]|\(arroba\))\s*[\w-]+
            (?:\s*(?:\s(?:ponto|dot)\s|\(dot\)|\[dot\]|\(ponto\))\s*[a-z]{2,})+\b"""
        ),
        _fixed("email"),
    ),
    _Detector(_compile(_START + _UUID + _END), _classify_uuid),
    # A random PIX key written without hyphens: 32 hex digits with at least one letter.
    _Detector(
        _compile(_START + r"(?=[0-9a-f]{0,31}[a-f])(?=[a-f]{0,31}[0-9])[0-9a-f]{32}" + _END),
        _fixed("pix_key"),
    ),
    _Detector(
        _compile(
            _NUMBER_START
            + r"[A-Z0-9]{2}[.\s-]?[A-Z0-9]{3}[.\s-]?[A-Z0-9]{3}\s?[/.-]?\s?[A-Z0-9]{4}\s?-?\s?\d{2}"
            + _END
        ),
        _classify_cnpj,
    ),
    _Detector(
        _compile(
            _NUMBER_START + r"\d{3}(?:\.\d{3}\.\d{3}|\s\d{3}\s\d{3})[-.\s/]?\d{2}" + _NUMBER_END
        ),
        _fixed("cpf"),
    ),
    _Detector(_compile(_NUMBER_START + r"\d{9}-\d{2}" + _NUMBER_END), _fixed("cpf")),
    # Card numbers in groups of four (or Amex 4-6-5).
    _Detector(
        _compile(
            _NUMBER_START
            + r"(?:\d{4}(?:[\s.-]\d{4}){2}[\s.-]\d{1,7}|\d{4}[\s-]\d{6}[\s-]\d{5})"
            + _NUMBER_END
        ),
        _classify_card,
    ),
    # International numbers written with a plus sign.
    _Detector(
        _compile(r"(?<![\w+])\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,5}){1,4}" + _NUMBER_END),
        _fixed("phone"),
    ),
    # Brazilian numbers with area code: (11) 98765-4321, 11 9 8765 4321, (011) 3456-7890.
    _Detector(
        _compile(
            _NUMBER_START
            + r"""(?:\(\s?0?[1-9]\d\s?\)|0?[1-9]\d(?=[\s.-]))[\s.-]?
            (?:9[\s.]?\d{4}|[2-5]\d{3})[\s.-]?\d{4}"""
            + _NUMBER_END
        ),
        _fixed("phone"),
    ),
    # Toll-free and shared-cost numbers: 0800 123 4567.
    _Detector(
        _compile(_NUMBER_START + r"0[38]00[\s.-]?\d{3}[\s.-]?\d{4}" + _NUMBER_END), _fixed("phone")
    ),
    # Mobile numbers without area code: 98765-4321, 9 8765 4321.
    _Detector(_compile(_NUMBER_START + r"9[\s.]?\d{4}[\s.-]\d{4}" + _NUMBER_END), _fixed("phone")),
    # Landlines without area code look like year ranges ("2023-2024"), so they need a word
    # such as "telefone" or "whatsapp" shortly before them.
    _Detector(
        _compile(
            r"""\b(?:tel|telefone|fone|celular|cel|whats(?:app)?|zap|contato|ligar|liga|ligue)
            \b[^\d\n]{0,20}([2-5]\d{3}[\s.-]?\d{4})"""
            + _NUMBER_END
        ),
        _fixed("phone"),
        group=1,
    ),
    # Agency and account written together: 1234 / 12345-6, 1234-5/0012345-X.
    _Detector(
        _compile(_NUMBER_START + r"\d{3,5}(?:-[\dX])?\s?/\s?\d{3,13}-[\dX]" + _NUMBER_END),
        _fixed("bank_details"),
    ),
    _Detector(
        _compile(
            r"""\b(?:ag[êe]ncia|agencia|ag\.?)(?:\s+banc[áa]ria)?\s*(?:n[º°o.]?\s*)?[:\-=]?\s*
            (\d{3,5}(?:\s?-\s?[\dX])?)"""
            + _NUMBER_END
        ),
        _fixed("agency"),
        group=1,
    ),
    _Detector(
        _compile(
            r"""(?:\bconta(?:[\s-](?:corrente|poupan[çc]a|pagamento|sal[áa]rio|banc[áa]ria))?
            |\bc/c|\bc\.c\.|\bcc|\bcta\.?|\bconta\s+n[º°o.]?)
            \s*(?:n[º°o.]?|n[úu]mero)?\s*[:\-=]?\s*
            (\d{4,13}(?:\s?[-.]\s?[\dX])?|\d{1,3}(?:\.\d{3})+-[\dX])"""
            + _NUMBER_END
        ),
        _fixed("account"),
        group=1,
    ),
    # RG and similar state documents: 12.345.678-9 or 1.234.567-X.
    _Detector(
        _compile(_NUMBER_START + r"\d{1,2}\.\d{3}\.\d{3}-[\dX]" + _NUMBER_END), _fixed("document")
    ),
    # Account number with its check digit and no label: 12345-6, 0012345-X.
    _Detector(_compile(_NUMBER_START + r"\d{4,12}-[\dX]" + _NUMBER_END), _fixed("account")),
    # Any other long run of digits (optionally grouped) is personal more often than not:
    # CPF or phone typed without punctuation, boleto lines, card numbers.
    _Detector(
        _compile(_NUMBER_START + r"\d(?:[\s.-]?\d){8,}" + _NUMBER_END),
        _classify_long_number,
    ),
)

_PROTECTED: tuple[re.Pattern[str], ...] = (
    # Correios tracking codes: two letters, nine digits, two letters.
    re.compile(r"(?<![\w])[A-Z]{2}\d{9}[A-Z]{2}(?![\w])", re.IGNORECASE),
    # Money amounts such as R$ 1.234,56.
    re.compile(r"R\$\s?\d{1,3}(?:\.\d{3})*(?:,\d{1,2})?|R\$\s?\d+(?:,\d{1,2})?"),
    # Dates and times are not personal data, and 01/02/2024 must not read as an account.
    re.compile(r"(?<![\w/])\d{1,2}/\d{1,2}/\d{2,4}(?![\w/])"),
    # Postal codes (CEP) 01310-100.
    re.compile(r"(?<![\w-])\d{5}-\d{3}(?![\w-])"),
)


class _Intervals:
    """Sorted, disjoint [start, end) intervals. An added interval merges with those it overlaps.

    Lookups are binary searches, so a text with thousands of matches stays fast.
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        low = bisect_left(self._ends, start)
        high = bisect_right(self._starts, end)
        if low < high:
            start = min(start, self._starts[low])
            end = max(end, self._ends[high - 1])
        self._starts[low:high] = [start]
        self._ends[low:high] = [end]

    def overlaps(self, start: int, end: int) -> bool:
        # Of the intervals starting before `end`, the last one reaches furthest.
        index = bisect_left(self._starts, end)
        return index > 0 and self._ends[index - 1] > start


def _protected_spans(text: str) -> _Intervals:
    spans = _Intervals()
    for pattern in _PROTECTED:
        for match in pattern.finditer(text):
            spans.add(*match.span())
    return spans


def _find_spans(text: str) -> list[_Span]:
    claimed = _Intervals()
    protected = _protected_spans(text)
    found: list[_Span] = []

    for detector in _DETECTORS:
        for match in detector.pattern.finditer(text):
            start, end = match.span(detector.group)
            if start == end or claimed.overlaps(start, end):
                continue
            kind = detector.classify(match, text)
            if kind is None:
                continue
            if protected.overlaps(start, end):
                continue
            claimed.add(start, end)
            found.append(_Span(start, end, kind))

        if detector.classify is _classify_uuid:
            # UUIDs that are not PIX keys are purchase or conversation ids: keep them whole.
            for match in detector.pattern.finditer(text):
                if not claimed.overlaps(*match.span()):
                    protected.add(*match.span())

    return sorted(found, key=lambda span: span.start)


def _apply(text: str, spans: list[_Span]) -> Iterator[str]:
    cursor = 0
    for span in spans:
        yield text[cursor : span.start]
        yield LABELS[span.kind]
        cursor = span.end
    yield text[cursor:]


def redact(text: str) -> RedactionResult:
    """Replace personal data in `text` with labels and count what was replaced."""
    if not text:
        return RedactionResult(text=text)
    spans = _find_spans(text)
    if not spans:
        return RedactionResult(text=text)
    counts = Counter(span.kind for span in spans)
    return RedactionResult(text="".join(_apply(text, spans)), counts=dict(counts))


def redact_text(text: str) -> str:
    return redact(text).text


def redact_data(value: Any) -> Any:
    """Redact every string inside a JSON-like value (dicts, lists, scalars).

    Dictionary keys are left alone because they are schema names, not user data.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value
