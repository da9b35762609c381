"""Pause events and recordings keep when their requests were sent and answered

Revision ID: 0019_pause_points_bounded_by_requests
Revises: 0018_processes_keep_their_run_history
Create Date: 2026-12-07 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from flexrec.db.models import UTCDateTime

revision: str = "0019_pause_points_bounded_by_requests"
down_revision: str | None = "0018_processes_keep_their_run_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("pause_events") as batch:
        batch.add_column(sa.Column("sent_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("answered_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("create_sent_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("create_answered_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("change_sent_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("change_sent_ms")
        batch.drop_column("create_answered_ms")
        batch.drop_column("create_sent_ms")
    with op.batch_alter_table("pause_events") as batch:
        batch.drop_column("answered_at")
        batch.drop_column("sent_at")
