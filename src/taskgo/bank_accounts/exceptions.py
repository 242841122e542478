"""The failure raised by the pure parsers of this package (documents, PIX keys, bank data).

The parsers know nothing about HTTP or request fields, so they raise `InvalidValue` with a
stable code. The service turns it into an `AppError` that names the request field.
"""

from __future__ import annotations

from typing import Any


class InvalidValue(ValueError):
    """A value that failed validation; `code` is a key of the bank_accounts catalog."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params
