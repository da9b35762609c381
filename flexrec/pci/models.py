"""Tables of card-data protection: redacted transcripts, their search text, detections.

Nothing here ever holds a digit of card data: transcripts are written after redaction (the
words inside silenced spans replaced by markers such as `[card number]`), detections keep
kinds, times and digit counts only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flexrec.db.base import Base
from flexrec.db.models import UTCDateTime


class Transcript(Base):
    """A recording's redacted transcript: per channel, words with their times."""

    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_sid: Mapped[str] = mapped_column(String(34), unique=True, index=True)
    engine: Mapped[str] = mapped_column(String(64))
    # {"1": [[word, start_ms, end_ms], ...], "2": [...]}: channel 1 is the WAV's first channel
    words: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TranscriptText(Base):
    """One channel's transcript as plain text: what full-text search indexes (SQLite FTS5 over
    it, PostgreSQL a GIN index on its `simple` tsvector; see the migration)."""

    __tablename__ = "transcript_texts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_sid: Mapped[str] = mapped_column(String(34), index=True)
    channel: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")


class CardDetection(Base):
    """Card data found in a recording and silenced before it was archived."""

    __tablename__ = "card_detections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_sid: Mapped[str] = mapped_column(String(34), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # card_number, expiry, security_code, rule
    channel: Mapped[int] = mapped_column(Integer)
    start_ms: Mapped[int] = mapped_column(Integer)
    end_ms: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(64))
    digit_count: Mapped[int] = mapped_column(Integer)
    silenced_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class CardDataNotice(Base):
    """The signed webhook's outbox: one notice per recording with card data silenced.

    Written in the transaction that records the detections (a crash loses none; a second run of
    the archive job adds none); the delivery job posts it, retrying with backoff until the
    receiver answers 2xx or the attempts run out. `body` is fixed at the first attempt, so every
    retry sends the same bytes under the same `event_id` (the receiver's key to drop repeats).
    """

    __tablename__ = "card_data_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    recording_sid: Mapped[str] = mapped_column(String(34), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the next attempt is due; a running attempt pushes it ahead (its lease)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
