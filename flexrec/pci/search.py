"""Transcript search across calls: the same query, the same calls, on SQLite and PostgreSQL.

A query is reduced to its words (letters, digits and apostrophes, lower case, at most 12);
every word must appear in the channel's text, and a word with an apostrophe ("it's") as its
parts side by side. SQLite asks the FTS5 table with each word quoted as a phrase (no operator
reaches FTS5); PostgreSQL asks `to_tsvector('simple', text)` (the expression the migration's
GIN index holds) for `phraseto_tsquery('simple', word)` of each word, joined with `&&`. Both
tokenisers split on what is not a letter or digit and fold case, so they agree word for word
(tests/integration/console/test_transcript_search_postgres.py runs the same queries on both).

Who may see a hit is the caller's SQL condition on `ArchivedRecording`
(flexrec.archive.visibility), applied in the query so paging never loses a caller's calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, literal_column, select, text
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording
from flexrec.pci.models import Transcript, TranscriptText

MAX_WORDS = 12
CONTEXT_WORDS = (6, 12)  # words shown before and after the first match
_WORD = re.compile(r"[a-z0-9']+")
_TOKEN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class SearchHit:
    """A channel whose transcript has every query word, where the first of them is said."""

    recording_sid: str
    channel: int
    excerpt: str
    at_ms: int | None = None  # when the excerpt's first matching word starts


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


def _match_condition(dialect: str, words: list[str]) -> ColumnElement[bool]:
    if dialect == "sqlite":
        # Each word a quoted phrase: FTS5 reads nothing inside quotes as syntax.
        match = " ".join('"' + w.replace('"', "") + '"' for w in words)
        matching: Select[Any] = (
            select(literal_column("rowid"))
            .select_from(text("transcript_texts_fts"))
            .where(text("transcript_texts_fts MATCH :match").bindparams(match=match))
        )
        return TranscriptText.id.in_(matching)
    simple: ColumnElement[Any] = literal_column("'simple'::regconfig")
    query: Any = None
    for word in words:
        phrase = func.phraseto_tsquery(simple, literal(word))
        query = phrase if query is None else query.op("&&")(phrase)
    return and_(func.to_tsvector(simple, TranscriptText.text).op("@@")(query))


def search_statement(
    dialect: str, words: list[str], visible: ColumnElement[bool] | None = None
) -> Select[str, int, str]:
    """The search as one statement (newest transcript first), for running and for EXPLAIN."""
    stmt = select(TranscriptText.recording_sid, TranscriptText.channel, TranscriptText.text)
    if visible is not None:
        stmt = stmt.join(
            ArchivedRecording, ArchivedRecording.recording_sid == TranscriptText.recording_sid
        ).where(visible)
    return stmt.where(_match_condition(dialect, words)).order_by(TranscriptText.id.desc())


def _tokens(word: str) -> list[str]:
    return _TOKEN.findall(word.lower())


def _locate(words: list[Any], wanted: list[str]) -> tuple[str, int] | None:
    """The excerpt around the first word that matches a query word, and that word's start."""
    targets = [_tokens(w) for w in wanted]
    for index, word in enumerate(words):
        if str(word[0]).startswith("["):
            continue  # a marker of silenced card data is not what was searched for
        tokens = _tokens(str(word[0]))
        if any(t and tokens[: len(t)] == t for t in targets):
            before, after = CONTEXT_WORDS
            start, end = max(0, index - before), index + after
            shown = " ".join(str(w[0]) for w in words[start:end])
            excerpt = ("… " if start else "") + shown + (" …" if end < len(words) else "")
            return excerpt, int(words[index][1])
    return None


def search_transcripts(
    session: Session,
    query: str,
    limit: int = 50,
    *,
    visible: ColumnElement[bool] | None = None,
) -> list[SearchHit]:
    """Channels whose transcript holds every word of `query` (only recordings `visible`
    selects, when given), newest first, each with an excerpt and the time to play from."""
    words = query_words(query)
    if not words:
        return []
    dialect = session.get_bind().dialect.name
    rows = session.execute(search_statement(dialect, words, visible).limit(limit)).all()
    stored = {
        t.recording_sid: t.words
        for t in session.scalars(
            select(Transcript).where(Transcript.recording_sid.in_({r[0] for r in rows}))
        )
    }
    hits = []
    for sid, channel, body in rows:
        located = _locate(list((stored.get(sid) or {}).get(str(channel), [])), words)
        excerpt, at_ms = located if located else (_excerpt(str(body), words), None)
        hits.append(SearchHit(str(sid), int(channel), excerpt, at_ms))
    return hits
