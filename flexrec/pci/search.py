"""Transcript search across calls: the same query words on SQLite (FTS5) and PostgreSQL.

A query is reduced to its words (letters and digits, lower case); every word must appear in
the channel's text. SQLite asks the FTS5 table with each word quoted (no operators reach it);
PostgreSQL asks `to_tsvector('simple', text) @@ plainto_tsquery('simple', words)`, which the
migration's GIN index serves. Both return the recording, the channel and a short excerpt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

MAX_WORDS = 12
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class SearchHit:
    """A channel whose transcript has every query word."""

    recording_sid: str
    channel: int
    excerpt: str


def query_words(query: str) -> list[str]:
    """The words a query searches for (at most 12)."""
    return [w.strip("'") for w in _WORD.findall(query.lower()) if w.strip("'")][:MAX_WORDS]


def _excerpt(full: str, words: list[str], width: int = 80) -> str:
    lower = full.lower()
    at = min((lower.find(w) for w in words if lower.find(w) >= 0), default=0)
    start = max(0, at - width // 2)
    return (
        ("…" if start else "")
        + full[start : start + width]
        + ("…" if start + width < len(full) else "")
    )


def search_transcripts(session: Session, query: str, limit: int = 50) -> list[SearchHit]:
    """Channels whose transcript holds every word of `query`, newest recordings first."""
    words = query_words(query)
    if not words:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        match = " ".join(f'"{w}"' for w in words)
        rows = session.execute(
            text(
                "SELECT t.recording_sid, t.channel, t.text FROM transcript_texts_fts f "
                "JOIN transcript_texts t ON t.id = f.rowid "
                "WHERE transcript_texts_fts MATCH :match ORDER BY t.id DESC LIMIT :limit"
            ),
            {"match": match, "limit": limit},
        )
    else:
        rows = session.execute(
            text(
                "SELECT recording_sid, channel, text FROM transcript_texts "
                "WHERE to_tsvector('simple', text) @@ plainto_tsquery('simple', :words) "
                "ORDER BY id DESC LIMIT :limit"
            ),
            {"words": " ".join(words), "limit": limit},
        )
    return [
        SearchHit(str(sid), int(channel), _excerpt(str(body), words)) for sid, channel, body in rows
    ]
