"""Each process keeps a row of its run for good: when it answered, when it was last alive

Revision ID: 0018_processes_keep_their_run_history
Revises: 0017_card_data_notices_outlive_crashes
Create Date: 2026-12-07 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from flexrec.db.models import UTCDateTime

revision: str = "0018_processes_keep_their_run_history"
down_revision: str | None = "0017_card_data_notices_outlive_crashes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "service_runs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("pid_started", sa.BigInteger(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("answering_at", UTCDateTime(), nullable=True),
        sa.Column("alive_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_service_runs")),
    )
    op.create_index(op.f("ix_service_runs_alive_at"), "service_runs", ["alive_at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_service_runs_alive_at"), table_name="service_runs")
    op.drop_table("service_runs")
