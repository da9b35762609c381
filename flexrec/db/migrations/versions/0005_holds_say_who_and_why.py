"""Legal holds say who set them, when and why; console accounts can be disabled

Revision ID: 0005_ops12_compliance
Revises: 0004_crash10_claim_owners
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flexrec.db.models

# The revision ID keeps the ticket name this file once had: databases in the field are
# stamped with it (alembic_version), so renaming it would orphan them. Only the file is renamed.
revision: str = "0005_ops12_compliance"
down_revision: str | None = "0004_crash10_claim_owners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("archived_recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legal_hold_by", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("legal_hold_at", flexrec.db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("legal_hold_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled")
    with op.batch_alter_table("archived_recordings", schema=None) as batch_op:
        batch_op.drop_column("legal_hold_reason")
        batch_op.drop_column("legal_hold_at")
        batch_op.drop_column("legal_hold_by")
