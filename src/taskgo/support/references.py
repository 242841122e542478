"""Order numbers as users write them: a full id, or the short "#a3ee91f2" the assistant shows.

The assistant names purchases and service orders by the first 8 hex digits of their id, so
users copy that back. A reference is the hex digits the user gave (8 to 32, lower case,
without hyphens). It matches every id that starts with those digits, and 32 digits are a
full id. Which of those ids the user may see is decided by the lookups, never here.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from taskgo.support.knowledge import fold

_FULL_DIGITS = 32

# A '#', then 8 hex digits and up to 24 more, optionally split by hyphens as in a UUID.
_TOKEN = re.compile(r"(?<![\w#-])(#?)([0-9a-f]{8}(?:-?[0-9a-f])*)(?![\w-])", re.IGNORECASE)
_VALUE = re.compile(r"#?\s*([0-9a-f]{8}(?:-?[0-9a-f])*)", re.IGNORECASE)
# Words right before a bare number that make it an order number: "pedido 12345678",
# "ordem de serviço nº 12345678". Matched against folded text.
_ORDER_WORD_BEFORE = re.compile(
    r"""\b(pedidos?|compras?|vendas?|ordem|ordens|encomendas?|orders?|purchases?|sales?)
    (\s+de\s+servicos?)?(\s+(numero|number|no\.?|n\.))?\s*[:#]?\s*$""",
    re.VERBOSE,
)
# How far back to look for an order word before a bare number.
_CONTEXT_CHARS = 40


@dataclass(frozen=True, slots=True)
class OrderReference:
    digits: str

    @property
    def full_id(self) -> uuid.UUID | None:
        """The id itself when all 32 digits were given, else None."""
        return uuid.UUID(self.digits) if len(self.digits) == _FULL_DIGITS else None

    @property
    def bounds(self) -> tuple[uuid.UUID, uuid.UUID]:
        """The lowest and highest ids that start with these digits, for a range query."""
        missing = _FULL_DIGITS - len(self.digits)
        return uuid.UUID(self.digits + "0" * missing), uuid.UUID(self.digits + "f" * missing)

    @property
    def label(self) -> str:
        """How the assistant writes the number back to the user."""
        full = self.full_id
        return str(full) if full is not None else f"#{self.digits}"

    def matches(self, identifier: str) -> bool:
        return identifier.replace("-", "").lower().startswith(self.digits)


def parse_reference(value: str) -> OrderReference:
    """Read one order number: a UUID, or 8 or more of its leading hex digits, '#' optional.

    Raises ValueError for anything else.
    """
    match = _VALUE.fullmatch(value.strip())
    if match is None:
        raise ValueError("an order number is a UUID or its first 8 or more hex digits")
    digits = match.group(1).replace("-", "").lower()
    if len(digits) > _FULL_DIGITS:
        raise ValueError("an order number has at most 32 hex digits")
    return OrderReference(digits)


def _is_order_number(text: str, match: re.Match[str]) -> bool:
    digits = match.group(2)
    if match.group(1) or len(digits.replace("-", "")) == _FULL_DIGITS:
        return True
    # Without '#', a number of digits only (a CEP, a phone) or letters only (a word) counts
    # only right after an order word.
    if re.search(r"\d", digits) and re.search(r"[a-f]", digits, re.IGNORECASE):
        return True
    before = fold(text[max(0, match.start() - _CONTEXT_CHARS) : match.start()])
    return _ORDER_WORD_BEFORE.search(before) is not None


def find_references(text: str) -> list[OrderReference]:
    """Return the order numbers written in `text`, in order and without repeats."""
    found: list[OrderReference] = []
    for match in _TOKEN.finditer(text):
        if not _is_order_number(text, match):
            continue
        digits = match.group(2).replace("-", "").lower()
        reference = OrderReference(digits)
        if len(digits) <= _FULL_DIGITS and reference not in found:
            found.append(reference)
    return found
