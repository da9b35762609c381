"""Each ended call leg's coverage verdict is counted once

Revision ID: 0008_coverage_legs_counted_once
Revises: 0007_audit_rows_are_hash_chained
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flexrec.db.models

revision: str = "0008_coverage_legs_counted_once"
down_revision: str | None = "0007_audit_rows_are_hash_chained"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "coverage_findings",
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=True),
        sa.Column("judged_at", flexrec.db.models.UTCDateTime(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", flexrec.db.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("call_sid", name=op.f("pk_coverage_findings")),
    )
    with op.batch_alter_table("coverage_findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coverage_findings_counted"), ["counted"])
        batch_op.create_index(batch_op.f("ix_coverage_findings_updated_at"), ["updated_at"])
    op.create_table(
        "coverage_counts",
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("legs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("outcome", "reason", name=op.f("pk_coverage_counts")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("coverage_counts")
    op.drop_table("coverage_findings")
