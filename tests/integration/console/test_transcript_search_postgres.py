"""Transcript search on PostgreSQL and on SQLite: the same query finds the same calls.

Both databases are migrated as the service migrates them (SQLite's FTS5 table and triggers,
PostgreSQL's GIN index), hold the same transcripts (written by the card-data stage's writer),
and answer a list of queries that trip the usual differences between two full-text engines:
case, punctuation, apostrophes, digits, words in any order, a word only one side said, query
syntax of either engine typed by a user, silenced card data. PostgreSQL answers from its GIN
index. Visibility is the same SQL on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.models import ArchivedRecording
from flexrec.archive.visibility import visibility_clause
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.pci.detect import CARD_NUMBER, Detection
from flexrec.pci.search import query_words, search_statement, search_transcripts
from flexrec.pci.stage import StageResult
from flexrec.pci.store import save_result
from flexrec.transcription.base import Word

pytestmark = pytest.mark.slow

ALICE = "WK" + "a1" * 16
BOB = "WK" + "b0" * 16

CALLS = {
    # sid suffix: (worker, customer's words, agent's words, a card number silenced)
    1: (ALICE, "hi my parcel has not arrived", "let me check the parcel for you", False),
    2: (BOB, "it's the second time it's late", "i'm sorry it's late again", False),
    3: (ALICE, "i want a refund for order 4 5 6", "the refund takes five days", False),
    4: (BOB, "can i pay by card today", "yes read me the long number", True),
    5: (ALICE, "NEAR the station OR the bank", "and then left at the corner", False),
    6: (BOB, "café au lait twice", "naïve question sorry", False),
}
QUERIES = [
    "parcel",
    "PARCEL arrived",  # no stemming in either: "arrived" only where said
    "Parcel, NOT arrived!",
    "check parcel",  # agent's side only
    "parcel check",  # both words on one side, any order
    "hi check",  # words on two different sides: no match
    "it's",  # apostrophes: "it" and "s" side by side on both
    "it's late",
    "im sorry",
    "i'm sorry",
    "refund 4",
    "4 5 6",
    "five",
    "card number",  # the marker is not indexed; the agent did not say "card"
    "long number",
    "NEAR station",  # FTS5 syntax typed by a user is a word like any other
    "station OR bank",
    '"the corner"',
    "left*",
    "-left",
    "café",
    "naïve",
    "caf",
    "",
    "the",
]


def _result(customer: str, agent: str, card: bool) -> StageResult:
    def words(line: str, offset: int = 0) -> list[Word]:
        return [
            Word(w, offset + i * 500, offset + i * 500 + 400) for i, w in enumerate(line.split())
        ]

    spoken = {1: words(customer), 2: words(agent, 250)}
    detections: tuple[Detection, ...] = ()
    if card:
        spoken[1].append(Word("[card number]", 9000, 15000))
        detections = (Detection(CARD_NUMBER, 1, 9000, 15000, "luhn", 16),)
    return StageResult(
        kept_wav=b"",
        source_sha256="0" * 64,
        spans_ms=((8750, 15250),) if card else (),
        detections=detections,
        transcript=spoken,
        engine="test",
        mode="silence",
        margin_ms=250,
        audio_s=20.0,
    )


def _seed(sessions: sessionmaker[Session]) -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with sessions() as session:
        for n, (worker, customer, agent, card) in CALLS.items():
            sid = f"RE{n:032x}"
            session.add(
                ArchivedRecording(
                    recording_sid=sid,
                    call_sid=f"CA{n:032x}",
                    storage_key=f"recordings/{sid}.wav",
                    state="verified",
                    worker_sid=worker,
                    channels=2,
                    recording_started_at=now + timedelta(minutes=n),
                    created_at=now,
                    updated_at=now,
                )
            )
            save_result(session, sid, _result(customer, agent, card))
        session.commit()


@pytest.fixture
def both(postgres_url: str, tmp_path: Path) -> Iterator[dict[str, sessionmaker[Session]]]:
    """Migrated and seeded sessions: {"sqlite": ..., "postgresql": ...}."""
    schema = f"search_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url else "?"
    pg_url = f"{postgres_url}{separator}options={quote(f'-csearch_path={schema}')}"
    sqlite_url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    engines = {}
    try:
        for name, url in (("sqlite", sqlite_url), ("postgresql", pg_url)):
            upgrade(url)
            engines[name] = make_engine(url)
        made = {name: make_session_factory(engine) for name, engine in engines.items()}
        for sessions in made.values():
            _seed(sessions)
        yield made
    finally:
        for engine in engines.values():
            engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _answers(sessions: sessionmaker[Session], query: str, worker: str | None = None) -> set[tuple]:
    roles = ("agent",) if worker else ("supervisor",)
    with sessions() as session:
        hits = search_transcripts(
            session, query, limit=100, visible=visibility_clause(worker, roles)
        )
    return {(h.recording_sid, h.channel, h.at_ms) for h in hits}


def test_the_same_query_finds_the_same_calls_on_sqlite_and_postgresql(
    both: dict[str, sessionmaker[Session]],
) -> None:
    found_any = 0
    for query in QUERIES:
        on_sqlite = _answers(both["sqlite"], query)
        on_postgres = _answers(both["postgresql"], query)
        assert on_sqlite == on_postgres, (query, query_words(query))
        found_any += bool(on_sqlite)
        for worker in (ALICE, BOB):
            mine = _answers(both["sqlite"], query, worker)
            assert mine == _answers(both["postgresql"], query, worker), (query, worker)
            owned = {f"RE{n:032x}" for n, call in CALLS.items() if call[0] == worker}
            assert {sid for sid, _c, _a in mine} <= owned
    assert found_any >= 12  # the list is not a list of misses
    # A few answers spelled out, so "equal" is not "equally wrong".
    expect = {
        "check parcel": {(f"RE{1:032x}", 2)},
        "hi check": set(),
        "it's late": {(f"RE{2:032x}", 1), (f"RE{2:032x}", 2)},
        "card number": set(),
        "long number": {(f"RE{4:032x}", 2)},
        "NEAR station": {(f"RE{5:032x}", 1)},
        "4 5 6": {(f"RE{3:032x}", 1)},
    }
    for query, wanted in expect.items():
        assert {(sid, channel) for sid, channel, _at in _answers(both["postgresql"], query)} == (
            wanted
        ), query


def test_postgresql_answers_from_the_gin_index(both: dict[str, sessionmaker[Session]]) -> None:
    with both["postgresql"]() as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        statement = search_statement("postgresql", ["parcel", "arrived"])
        compiled = statement.compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
        plan = "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
    assert "ix_transcript_texts_tsv" in plan, plan
