"""Who was on the call when: each reservation's end, and every hold and unhold of a leg

Revision ID: 0016_who_was_on_the_call
Revises: 0015_task_changes_announced
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_who_was_on_the_call"
down_revision: str | None = "0015_task_changes_announced"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    # A plain ADD COLUMN, never a batch rebuild: on SQLite that would drop the triggers that
    # announce reservation changes (0015_task_changes_announced).
    op.add_column("reservations", sa.Column("ended_ms", sa.BigInteger(), nullable=True))
    op.create_table(
        "hold_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conference_sid", sa.String(length=34), nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("hold", sa.Boolean(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid", "at_ms", "hold"),
    )
    op.create_index("ix_hold_events_call_sid", "hold_events", ["call_sid"])
    op.create_index("ix_hold_events_conference_sid", "hold_events", ["conference_sid"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_hold_events_conference_sid", table_name="hold_events")
    op.drop_index("ix_hold_events_call_sid", table_name="hold_events")
    op.drop_table("hold_events")
    op.drop_column("reservations", "ended_ms")
