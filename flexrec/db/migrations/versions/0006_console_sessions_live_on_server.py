"""Console sessions live on the server, so they can be ended

Revision ID: 0006_sec10_console_sessions
Revises: 0005_ops12_compliance
Create Date: 2026-12-04 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flexrec.db.models

# The revision ID keeps the ticket name this file once had: databases in the field are
# stamped with it (alembic_version), so renaming it would orphan them. Only the file is renamed.
revision: str = "0006_sec10_console_sessions"
down_revision: str | None = "0005_ops12_compliance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("worker_sid", sa.String(length=34), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", flexrec.db.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", flexrec.db.models.UTCDateTime(), nullable=False),
        sa.Column("ended_at", flexrec.db.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_console_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sessions_expires_at"), ["expires_at"])
        batch_op.create_index(batch_op.f("ix_console_sessions_user_id"), ["user_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("console_sessions")
