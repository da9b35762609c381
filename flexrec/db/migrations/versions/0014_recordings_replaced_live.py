"""A leg's recording is replaced while its call is live: replacements, call end, link generations

Revision ID: 0014_recordings_replaced_live
Revises: 0013_transcripts_hold_no_card_digits
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flexrec.db.models

revision: str = "0014_recordings_replaced_live"
down_revision: str | None = "0013_transcripts_hold_no_card_digits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("recording_targets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("replacements", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("call_ended_at", flexrec.db.models.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_while_live", sa.Boolean(), nullable=True))
    with op.batch_alter_table("attribute_writes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("attribute_writes", schema=None) as batch_op:
        batch_op.drop_column("generation")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("ended_while_live")
    with op.batch_alter_table("recording_targets", schema=None) as batch_op:
        batch_op.drop_column("call_ended_at")
        batch_op.drop_column("replacements")
