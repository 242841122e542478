"""Rename check constraints whose table prefix was applied twice.

Earlier migrations passed full names such as `ck_products_price_range` while the metadata's
naming convention (`ck_%(table_name)s_%(constraint_name)s`) added the prefix again, so the
database holds `ck_products_ck_products_price_range`. The models name them
`ck_products_price_range`; this brings the database in line.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Renames every check constraint named ck_<table>_ck_<table>_<rest> to ck_<table>_<rest>.
# left() compares the literal prefix, so `_` in table names is not a LIKE wildcard.
_RENAME = """
DO $$
DECLARE
    found record;
BEGIN
    FOR found IN
        SELECT c.conname, t.relname
        FROM pg_constraint AS c
        JOIN pg_class AS t ON t.oid = c.conrelid
        JOIN pg_namespace AS n ON n.oid = t.relnamespace
        WHERE n.nspname = current_schema() AND c.contype = 'c'
    LOOP
        {body}
    END LOOP;
END $$;
"""

_UPGRADE_BODY = """
        IF left(found.conname, 2 * length('ck_' || found.relname || '_'))
            = 'ck_' || found.relname || '_ck_' || found.relname || '_' THEN
            EXECUTE format(
                'ALTER TABLE %I RENAME CONSTRAINT %I TO %I',
                found.relname,
                found.conname,
                substr(found.conname, length('ck_' || found.relname || '_') + 1)
            );
        END IF;
"""

def upgrade() -> None:
    op.execute(_RENAME.format(body=_UPGRADE_BODY))


def downgrade() -> None:
    # Nothing to undo: the earlier migrations' downgrades drop these tables whole and never
    # name a check constraint. Doubling the prefix again could also pass PostgreSQL's
    # 63-character limit and truncate the name.
    pass
