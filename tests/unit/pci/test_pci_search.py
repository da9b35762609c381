"""Transcript search over the migrated schema (SQLite FTS5): every query word must match, no
operator reaches FTS5, and a silenced card number cannot be found."""

from __future__ import annotations

from pathlib import Path

from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.pci.detect import Detection
from flexrec.pci.search import query_words, search_transcripts
from flexrec.pci.stage import StageResult
from flexrec.pci.store import save_result
from flexrec.transcription.base import Word


def _result(words: list[str], marker: bool = False) -> StageResult:
    spoken = [Word(w, i * 400, i * 400 + 300) for i, w in enumerate(words)]
    if marker:
        spoken.append(Word("[card number]", 5000, 9000))
    return StageResult(
        kept_wav=b"",
        source_sha256="0" * 64,
        spans_ms=((5000, 9000),) if marker else (),
        detections=(Detection("card_number", 1, 5000, 9000, "luhn", 16),) if marker else (),
        transcript={1: spoken, 2: [Word("okay", 0, 300)]},
        engine="test",
        mode="silence",
        margin_ms=250,
        audio_s=10.0,
    )


def test_search_finds_calls_with_every_word_and_never_a_card_digit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        save_result(session, "RE" + "1" * 32, _result("my parcel did not arrive".split(), True))
        save_result(session, "RE" + "2" * 32, _result("the parcel arrived damaged".split()))
        save_result(session, "RE" + "3" * 32, _result("what is the number to call".split()))
        session.commit()
    with sessions() as session:
        assert {h.recording_sid[2] for h in search_transcripts(session, "parcel")} == {"1", "2"}
        (said,) = search_transcripts(session, "number")  # a marker is not what was said
        assert said.recording_sid[2] == "3" and said.at_ms == 1200
        (hit,) = search_transcripts(session, "Parcel ARRIVE did")
        assert hit.recording_sid == "RE" + "1" * 32 and hit.channel == 1
        assert "parcel" in hit.excerpt
        assert hit.at_ms == 400  # where "parcel", the first word searched for, is said
        assert search_transcripts(session, 'parcel" OR "x') == []  # quotes are not syntax
        assert search_transcripts(session, "card number") == []  # markers are not indexed
        assert search_transcripts(session, "???") == []
    engine.dispose()
    assert query_words("It's  the BILL, again!") == ["it's", "the", "bill", "again"]
