"""Store a stable code for a failed payment instead of the provider's English message.

`purchases.payment_error` held Stripe's `last_payment_error.message` ("Your card was
declined."), which apps showed as it was, in English, whatever the buyer's language. The
new `payment_error_code` holds one of the codes of `taskgo.payments.failures`, and
responses translate it per request.

Existing messages become codes: Stripe's messages for its documented declines map to
their codes, and any other message becomes `payments.failed`. The old column stays, unused
by this version, so that processes of the previous version keep working during a rolling
deploy. A later migration drops it. The downgrade writes an English message back for each
code that this version set.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The codes as this revision defines them: later changes to the enum need a new migration.
_CODES = (
    "payments.card_declined",
    "payments.insufficient_funds",
    "payments.expired_card",
    "payments.incorrect_cvc",
    "payments.processing_error",
    "payments.authentication_required",
    "payments.failed",
)
# Stripe's English messages for its documented card failures, with the code each one means.
_MESSAGES = {
    "Your card was declined.": "payments.card_declined",
    "Your card has insufficient funds.": "payments.insufficient_funds",
    "Your card has expired.": "payments.expired_card",
    "Your card's security code is incorrect.": "payments.incorrect_cvc",
    "An error occurred while processing your card. Try again in a little bit.": (
        "payments.processing_error"
    ),
}
# What the downgrade writes back: the message above for a code that has one.
_DOWNGRADE_MESSAGES = {
    **{code: message for message, code in _MESSAGES.items()},
    "payments.authentication_required": "Your card requires authentication.",
    "payments.failed": "The payment failed.",
}


_purchases = sa.table(
    "purchases",
    sa.column("payment_error", sa.String()),
    sa.column("payment_error_code", sa.String()),
)


def _translate_column(source: str, target: str, mapping: dict[str, str], *, otherwise: str) -> None:
    """Set `target` from the non-null values of `source` through `mapping`."""
    column = _purchases.c[source]
    value = sa.case(*((column == key, text) for key, text in mapping.items()), else_=otherwise)
    op.execute(_purchases.update().where(column.is_not(None)).values({target: value}))


def upgrade() -> None:
    op.add_column("purchases", sa.Column("payment_error_code", sa.String(40)))
    _translate_column("payment_error", "payment_error_code", _MESSAGES, otherwise="payments.failed")
    codes = ", ".join(f"'{code}'" for code in _CODES)
    op.create_check_constraint(
        op.f("ck_purchases_payment_error_code"),
        "purchases",
        f"payment_error_code IS NULL OR payment_error_code IN ({codes})",
    )


def downgrade() -> None:
    # A purchase paid after a failure has no code, and its old message must not come back.
    code = _purchases.c.payment_error_code
    op.execute(_purchases.update().where(code.is_(None)).values(payment_error=None))
    _translate_column(
        "payment_error_code",
        "payment_error",
        _DOWNGRADE_MESSAGES,
        otherwise=_DOWNGRADE_MESSAGES["payments.failed"],
    )
    op.drop_constraint(op.f("ck_purchases_payment_error_code"), "purchases", type_="check")
    op.drop_column("purchases", "payment_error_code")
