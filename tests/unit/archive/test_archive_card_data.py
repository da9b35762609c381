"""The archive stores only what the card-data stage keeps, after its record is committed, and
the record holds no digit."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
from sim_recordings import SimRecordings
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import flexrec.pci.models  # noqa: F401 - registers the tables before the fixture creates them
from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.service import ArchiveService
from flexrec.archive.storage import MemoryStorage
from flexrec.pci.models import CardDetection, Transcript, TranscriptText
from flexrec.pci.redact import decode_wav
from flexrec.pci.stage import CardDataStage
from flexrec.pci.store import save_result
from flexrec.transcription.base import Word
from flexsim.testing import make_wav

RE = "RE" + "c" * 32
CA = "CA" + "c" * 32
CARD = "four five three nine five seven eight seven six three six two one four eight six"


class _HearsACard:
    name = "scripted"

    def transcribe(self, samples: np.ndarray, sample_rate_hz: int) -> list[Word]:
        words = ["my", "card", "is", *CARD.split()]
        return [Word(w, 200 + i * 150, 330 + i * 150) for i, w in enumerate(words)]


def test_only_the_redacted_audio_is_stored_and_the_record_has_no_digit(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    store: MemoryStorage,
    sessions: sessionmaker[Session],
) -> None:
    wav = make_wav(duration_s=5.0)
    twilio.add(RE, CA, wav)
    service = make_service()
    stage = CardDataStage(_HearsACard(), margin_ms=250)
    stored_before_record: list[bool] = []
    spans: list[tuple[int, int]] = []

    def redactor(recording_sid: str, data: bytes) -> tuple[bytes, object]:
        result = stage.process(data)
        with sessions() as session:
            save_result(session, recording_sid, result)
            session.commit()
        stored_before_record.append(bool(store.list_keys("recordings/")))
        spans.extend(result.spans_ms)
        return result.kept_wav, None

    service.deps.redactor = redactor
    row = service.job.archive_recording(RE)

    assert row.state == "verified"
    (key,) = store.list_keys("recordings/")
    kept = store.get(key)
    assert kept != wav and row.sha256 == hashlib.sha256(kept).hexdigest()
    original, _ = decode_wav(wav)
    samples, _ = decode_wav(kept)
    (span,) = spans  # the card's words (0.65-2.93 s) and 250 ms either side, at least
    assert span[0] <= 650 - 250 and span[1] >= 2930 + 250
    inside = np.zeros(len(samples), bool)
    inside[span[0] * 8 : span[1] * 8] = True
    assert not np.any(samples[inside])
    assert np.array_equal(samples[~inside], original[~inside])
    assert stored_before_record == [False]
    with sessions() as session:
        found = session.scalars(select(CardDetection)).all()
        assert sorted((d.kind, d.channel, d.digit_count) for d in found) == [
            ("card_number", 1, 16),
            ("card_number", 2, 16),
        ]
        transcript = session.scalars(select(Transcript)).one()
        texts = " ".join(t.text for t in session.scalars(select(TranscriptText)))
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "card_data_silenced"))
        assert len(audit.all()) == 2  # one per channel's detection
    heard = [w[0] for words in transcript.words.values() for w in words]
    assert "[card number]" in heard
    assert not set(CARD.split()) & set(heard) and "four" not in texts


def test_running_the_stage_again_replaces_its_record_without_a_second_audit(
    sessions: sessionmaker[Session],
) -> None:
    result = CardDataStage(_HearsACard()).process(make_wav(duration_s=5.0))
    for _ in range(2):
        with sessions() as session:
            save_result(session, RE, result)
            session.commit()
    with sessions() as session:
        assert len(session.scalars(select(CardDetection)).all()) == 2
        assert len(session.scalars(select(Transcript)).all()) == 1
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "card_data_silenced"))
        assert len(audit.all()) == 2
