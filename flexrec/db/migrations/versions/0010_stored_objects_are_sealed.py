"""Each stored object is sealed in a manifest row: hashes, size, version, lock, redaction

Revision ID: 0010_stored_objects_are_sealed
Revises: 0009_waveforms_are_compact_int8
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flexrec.db.models

revision: str = "0010_stored_objects_are_sealed"
down_revision: str | None = "0009_waveforms_are_compact_int8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "sealed_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_sid", sa.String(length=34), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("call_sid", sa.String(length=34), nullable=True),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("version_id", sa.String(length=128), nullable=True),
        sa.Column("stored_sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("plain_sha256", sa.String(length=64), nullable=False),
        sa.Column("plain_size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("redaction", sa.JSON(), nullable=True),
        sa.Column("lock_mode", sa.String(length=16), nullable=True),
        sa.Column("retain_until", flexrec.db.models.UTCDateTime(), nullable=True),
        sa.Column("legal_obligation", sa.Boolean(), nullable=False),
        sa.Column("object_legal_hold", sa.Boolean(), nullable=False),
        sa.Column("sealed_at", flexrec.db.models.UTCDateTime(), nullable=False),
        sa.Column("removed_at", flexrec.db.models.UTCDateTime(), nullable=True),
        sa.Column("removed_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sealed_objects")),
        sa.UniqueConstraint("recording_sid", "kind", name=op.f("uq_sealed_objects_recording_sid")),
    )
    with op.batch_alter_table("sealed_objects") as batch:
        batch.create_index(
            batch.f("ix_sealed_objects_recording_sid"), ["recording_sid"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("sealed_objects") as batch:
        batch.drop_index(batch.f("ix_sealed_objects_recording_sid"))
    op.drop_table("sealed_objects")
