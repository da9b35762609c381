"""The card-data webhook's outbox: a notice per recording, kept until the receiver has it

Revision ID: 0017_card_data_notices_outlive_crashes
Revises: 0016_who_was_on_the_call
Create Date: 2026-12-07 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from flexrec.db.models import UTCDateTime

revision: str = "0017_card_data_notices_outlive_crashes"
down_revision: str | None = "0016_who_was_on_the_call"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "card_data_notices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("recording_sid", sa.String(34), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.UniqueConstraint("event_id", name=op.f("uq_card_data_notices_event_id")),
        sa.UniqueConstraint("recording_sid", name=op.f("uq_card_data_notices_recording_sid")),
    )
    op.create_index("ix_card_data_notices_state", "card_data_notices", ["state"])
    op.create_index(
        "ix_card_data_notices_next_attempt_at", "card_data_notices", ["next_attempt_at"]
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("card_data_notices")
