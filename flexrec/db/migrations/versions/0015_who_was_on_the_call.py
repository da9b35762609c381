"""Who was on the call when: each reservation's end, and every hold and unhold of a leg

Revision ID: 0015_who_was_on_the_call
Revises: 0014_recordings_replaced_live
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_who_was_on_the_call"
down_revision: str | None = "0014_recordings_replaced_live"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_ms", sa.BigInteger(), nullable=True))
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
    with op.batch_alter_table("reservations", schema=None) as batch_op:
        batch_op.drop_column("ended_ms")
