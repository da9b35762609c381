"""Recording targets remember a pause asked for before the recording started

Revision ID: 0003_recording_pause_intent
Revises: 0002
Create Date: 2026-11-25 00:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_recording_pause_intent"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("recording_targets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("desired_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("desired_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("desired_worker_sid", sa.String(length=34), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("recording_targets", schema=None) as batch_op:
        batch_op.drop_column("desired_worker_sid")
        batch_op.drop_column("desired_by")
        batch_op.drop_column("desired_state")
