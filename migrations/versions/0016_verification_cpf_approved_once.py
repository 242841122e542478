"""One CPF verifies at most one partner: a unique index on approved submissions' CPF.

The duplicate-CPF rule was checked by a query before each approval, so two approvals of
the same CPF at the same moment both passed it. A partial unique index on the CPF's blind
index (`cpf_fingerprint`) among approved submissions now makes the database refuse the
second one.

Approved submissions that already share a CPF would stop the index from being built.
Nothing is deleted and no partner loses the verified status here: that is a decision for
an admin. The oldest approval (by decision time) keeps its fingerprint. Each later one
keeps its fingerprint under the `duplicateCpfFingerprint` key of its `analysis` and its
column is cleared, and an audit entry `verification.cpf_duplicate_found` names it and
the submission that kept the CPF, so admins can find and review these partners. The
downgrade drops the index and puts the fingerprints back in the column. The audit
entries stay, as the audit log is never rewritten.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_INDEX = "uq_verification_submissions_cpf_approved"
_TABLE = "verification_submissions"

# Approved submissions whose CPF an earlier approval already holds, with that approval.
_LATER_DUPLICATES = """
    WITH ranked AS (
        SELECT id, user_id, cpf_fingerprint,
               first_value(id) OVER (
                   PARTITION BY cpf_fingerprint ORDER BY decided_at, created_at, id
               ) AS kept_id,
               row_number() OVER (
                   PARTITION BY cpf_fingerprint ORDER BY decided_at, created_at, id
               ) AS rank
        FROM verification_submissions
        WHERE status = 'approved' AND cpf_fingerprint IS NOT NULL
    )
    SELECT id, user_id, kept_id FROM ranked WHERE rank > 1
"""


def upgrade() -> None:
    op.execute(
        f"""
        INSERT INTO audit_log (actor_id, action, target_type, target_id, details)
        SELECT NULL, 'verification.cpf_duplicate_found', 'verification_submission',
               duplicate.id::text,
               jsonb_build_object(
                   'partnerId', duplicate.user_id::text,
                   'cpfKeptBySubmissionId', duplicate.kept_id::text,
                   'migration', '{revision}'
               )
        FROM ({_LATER_DUPLICATES}) AS duplicate
        """  # noqa: S608
    )
    op.execute(
        f"""
        UPDATE verification_submissions AS submission
        SET analysis = submission.analysis
                || jsonb_build_object('duplicateCpfFingerprint', submission.cpf_fingerprint),
            cpf_fingerprint = NULL
        FROM ({_LATER_DUPLICATES}) AS duplicate
        WHERE submission.id = duplicate.id
        """  # noqa: S608
    )
    op.create_index(
        _INDEX,
        _TABLE,
        ["cpf_fingerprint"],
        unique=True,
        postgresql_where=sa.text("status = 'approved'"),
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name=_TABLE)
    op.execute(
        """
        UPDATE verification_submissions
        SET cpf_fingerprint = analysis ->> 'duplicateCpfFingerprint',
            analysis = analysis - 'duplicateCpfFingerprint'
        WHERE analysis ->> 'duplicateCpfFingerprint' IS NOT NULL
        """
    )
