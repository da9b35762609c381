"""Redacted transcripts, their full-text index, and the card data silenced in recordings

SQLite indexes `transcript_texts` with an FTS5 external-content table kept in step by triggers;
PostgreSQL with a GIN index on `to_tsvector('simple', text)`. Both are searched with the same
query words (flexrec.pci.search).

Revision ID: 0013_transcripts_hold_no_card_digits
Revises: 0012_erased_recordings_listed
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from flexrec.db.models import UTCDateTime

revision: str = "0013_transcripts_hold_no_card_digits"
down_revision: str | None = "0012_erased_recordings_listed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE transcript_texts_fts USING fts5("
    "text, content='transcript_texts', content_rowid='id')",
    "CREATE TRIGGER transcript_texts_ai AFTER INSERT ON transcript_texts BEGIN "
    "INSERT INTO transcript_texts_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER transcript_texts_ad AFTER DELETE ON transcript_texts BEGIN "
    "INSERT INTO transcript_texts_fts(transcript_texts_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER transcript_texts_au AFTER UPDATE ON transcript_texts BEGIN "
    "INSERT INTO transcript_texts_fts(transcript_texts_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO transcript_texts_fts(rowid, text) VALUES (new.id, new.text); END",
)


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recording_sid", sa.String(34), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_transcripts_recording_sid", "transcripts", ["recording_sid"], unique=True)
    op.create_table(
        "transcript_texts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recording_sid", sa.String(34), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_transcript_texts_recording_sid", "transcript_texts", ["recording_sid"])
    op.create_table(
        "card_detections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("recording_sid", sa.String(34), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("start_ms", sa.Integer(), nullable=False),
        sa.Column("end_ms", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("digit_count", sa.Integer(), nullable=False),
        sa.Column("silenced_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_card_detections_recording_sid", "card_detections", ["recording_sid"])
    op.create_index("ix_card_detections_silenced_at", "card_detections", ["silenced_at"])
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
    elif op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_transcript_texts_tsv ON transcript_texts "
            "USING gin (to_tsvector('simple', text))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS transcript_texts_fts")
    op.drop_table("card_detections")
    op.drop_table("transcript_texts")
    op.drop_table("transcripts")
