"""The audit chain's head is anchored, and each verify run is kept

Revision ID: 0011_audit_head_is_anchored
Revises: 0010_stored_objects_are_sealed
Create Date: 2026-12-06 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flexrec.db.models

revision: str = "0011_audit_head_is_anchored"
down_revision: str | None = "0010_stored_objects_are_sealed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "audit_anchors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("anchored_at", flexrec.db.models.UTCDateTime(), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=True),
        sa.Column("version_id", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchors")),
    )
    with op.batch_alter_table("audit_anchors") as batch:
        batch.create_index(batch.f("ix_audit_anchors_seq"), ["seq"], unique=False)
    op.create_table(
        "verify_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", flexrec.db.models.UTCDateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("unanchored_rows", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verify_runs")),
    )
    with op.batch_alter_table("verify_runs") as batch:
        batch.create_index(batch.f("ix_verify_runs_started_at"), ["started_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("verify_runs") as batch:
        batch.drop_index(batch.f("ix_verify_runs_started_at"))
    op.drop_table("verify_runs")
    with op.batch_alter_table("audit_anchors") as batch:
        batch.drop_index(batch.f("ix_audit_anchors_seq"))
    op.drop_table("audit_anchors")
