"""Lower the maximum product price to the maximum total of one purchase.

Stripe takes a charge amount of at most eight digits, so a purchase totals at most
R$ 999.999,99 (99999999 centavos). The former maximum price, R$ 1.000.000,00, let a seller
list a product that no buyer could pay for, even one unit of it.

A product above the new maximum was never sold, because every purchase of it was rejected.
It gets the new maximum price and, when it was active, moves to draft: buyers never see a
price that its seller did not choose, and the seller sees it among their products and can
publish it again.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_OLD_MAXIMUM = 100_000_000
_NEW_MAXIMUM = 99_999_999


def _replace_price_check(maximum: int) -> None:
    # op.f() keeps the full name: the naming convention would add the table prefix again.
    name = op.f("ck_products_price_range")
    op.drop_constraint(name, "products", type_="check")
    op.create_check_constraint(name, "products", f"price_cents > 0 AND price_cents <= {maximum}")


def upgrade() -> None:
    products = sa.table(
        "products",
        sa.column("price_cents", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        products.update()
        .where(products.c.price_cents > _NEW_MAXIMUM)
        .values(
            price_cents=_NEW_MAXIMUM,
            status=sa.case((products.c.status == "active", "draft"), else_=products.c.status),
            updated_at=sa.func.now(),
        )
    )
    _replace_price_check(_NEW_MAXIMUM)


def downgrade() -> None:
    # Only the constraint goes back. The products moved to draft stay as they are, because
    # nothing records which drafts the upgrade made.
    _replace_price_check(_OLD_MAXIMUM)
