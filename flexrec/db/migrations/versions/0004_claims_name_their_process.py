"""Claims name the process that holds them; processes keep a heartbeat row

Revision ID: 0004_crash10_claim_owners
Revises: 0003_recording_pause_intent
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# The revision ID keeps the ticket name this file once had: databases in the field are
# stamped with it (alembic_version), so renaming it would orphan them. Only the file is renamed.
revision: str = "0004_crash10_claim_owners"
down_revision: str | None = "0003_recording_pause_intent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "service_owners",
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("pid_started", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_service_owners")),
    )
    with op.batch_alter_table("recording_targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_owner", sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_recording_targets_claim_owner"), ["claim_owner"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("recording_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_targets_claim_owner"))
        batch_op.drop_column("claim_owner")
    op.drop_table("service_owners")
