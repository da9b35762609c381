"""Erased recordings are listed, so the link repair never writes them back

Revision ID: 0012_erased_recordings_listed
Revises: 0011_audit_head_is_anchored
Create Date: 2026-12-06 22:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flexrec.db.models

revision: str = "0012_erased_recordings_listed"
down_revision: str | None = "0011_audit_head_is_anchored"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "erased_recordings",
        sa.Column("recording_sid", sa.String(length=34), nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=True),
        sa.Column("task_sids", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("erased_at", flexrec.db.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("recording_sid", name=op.f("pk_erased_recordings")),
    )
    with op.batch_alter_table("erased_recordings") as batch:
        batch.create_index(batch.f("ix_erased_recordings_call_sid"), ["call_sid"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("erased_recordings") as batch:
        batch.drop_index(batch.f("ix_erased_recordings_call_sid"))
    op.drop_table("erased_recordings")
