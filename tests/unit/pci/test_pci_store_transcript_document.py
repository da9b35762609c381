"""The transcript the archive seals is the stored, redacted one, read through the pci store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.pci.models import Transcript
from flexrec.pci.store import transcript_document

RE = "RE" + "a" * 32


def test_the_sealed_transcript_is_the_stored_one_and_none_without(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    assert transcript_document(sessions, RE) is None
    words = {"1": [["[card number]", 400, 6000]], "2": [["thanks", 10, 90]]}
    with sessions() as session:
        session.add(Transcript(recording_sid=RE, engine="pocketsphinx", words=words,
                               created_at=datetime.now(UTC)))  # fmt: skip
        session.commit()
    assert transcript_document(sessions, RE) == {
        "recording_sid": RE,
        "engine": "pocketsphinx",
        "words": words,
    }
