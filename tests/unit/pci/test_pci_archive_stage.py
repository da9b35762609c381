"""The archive's redactor runs the stage in a child process (pocketsphinx holds the GIL) and
commits its record before handing the audio back."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select

from flexrec.config import CardDataSettings, Settings
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.pci.archive_stage import make_redactor
from flexrec.pci.models import Transcript
from flexsim import encode_audio, make_sample_conversation, render_recording


def test_the_redactor_transcribes_in_a_child_and_keeps_a_clean_call_as_downloaded(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    sample = make_sample_conversation(8, duration_s=12.0, queue_s=1.0)
    wav = encode_audio(render_recording(sample.world, sample.customer_recording), "wav")
    redact = make_redactor(Settings(card_data=CardDataSettings(card_data=True)), sessions)
    kept, report = redact("RE" + "8" * 32, wav)
    assert kept == wav  # no card data in this call: the downloaded bytes are kept
    assert report is not None and report.source_sha256 == hashlib.sha256(wav).hexdigest()
    assert report.spans_ms == () and report.detail["engine"] == "pocketsphinx"
    with sessions() as session:
        transcript = session.scalars(select(Transcript)).one()
        assert sum(len(words) for words in transcript.words.values()) > 5
    engine.dispose()
