"""Archiving from the simulator over real loopback HTTP: SDK client rebased, media rebased too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

import flexrec.archive.models  # noqa: F401 - registers the archive tables
from flexrec.archive.backfill import backfill
from flexrec.archive.service import ArchiveService, RecordingContext
from flexrec.archive.storage import LocalStorage
from flexrec.config import TwilioSettings
from flexrec.db.base import Base, make_engine, make_session_factory
from flexrec.twilio.client import make_client
from flexsim import (
    SampleConversation,
    create_sim_app,
    defaults,
    make_sample_conversation,
    serve_app,
)


@pytest.fixture
def sim() -> Iterator[tuple[SampleConversation, str]]:
    sample = make_sample_conversation(5, duration_s=20.0, queue_s=3.0)
    with serve_app(create_sim_app(sample.world)) as base_url:
        yield sample, base_url


def test_archive_from_the_simulator_then_delete_there(
    sim: tuple[SampleConversation, str], tmp_path: Path
) -> None:
    sample, base_url = sim
    client = make_client(
        TwilioSettings(
            account_sid=defaults.ACCOUNT_SID,
            auth_token=SecretStr(defaults.AUTH_TOKEN),
            base_url=base_url,
        )
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'flexrec.db'}")
    Base.metadata.create_all(engine)
    store = LocalStorage(tmp_path / "archive")
    service = ArchiveService(
        make_session_factory(engine),
        store,
        client,
        delete_from_twilio=True,
        context_provider=lambda *_: RecordingContext(channel_labels=("customer", "others")),
    )
    recording = sample.customer_recording
    # The recording-status callback's URL names Twilio's host; the archive rebases it.
    media_url = (
        f"https://api.twilio.com/2010-04-01/Accounts/{defaults.ACCOUNT_SID}"
        f"/Recordings/{recording.sid}"
    )
    service.job.note_completed(recording.sid, recording.call_sid, media_url, 2)

    row = service.job.archive_recording(recording.sid)

    assert row.state == "deleted_from_twilio"
    assert row.channels == 2
    assert row.duration_ms is not None and abs(row.duration_ms - 20_000) <= 1000
    assert store.list_keys() == [row.storage_key]
    assert sample.world.recordings[recording.sid].deleted

    analysis = service.analyses.analyse(recording.sid)
    assert analysis.agent_talk_ms and analysis.agent_talk_ms > 1000
    assert analysis.customer_talk_ms and analysis.customer_talk_ms > 1000

    # Backfill lists what is left on the account (the worker-leg recording) and archives it.
    report = backfill(client, service.job)
    assert report.archived == [sample.worker_recording.sid]
    assert report.failed == {}
    # Both recordings' audio, and the first one's sealed analysis.
    assert len(store.list_keys()) == 3
    service.close()
    client.http_client.close()
    engine.dispose()


def test_simulated_silence_pause_is_excluded_from_analysis(tmp_path: Path) -> None:
    from flexsim.testing import sdk_client

    sample = make_sample_conversation(
        8, duration_s=30.0, queue_s=2.0, pause=(10.0, 16.0, "silence")
    )
    recording = sample.customer_recording
    engine = make_engine(f"sqlite:///{tmp_path / 'flexrec.db'}")
    Base.metadata.create_all(engine)
    # The simulated call's own world, served in process: the media is rendered from its talk.
    service = ArchiveService(
        make_session_factory(engine),
        LocalStorage(tmp_path / "archive"),
        sdk_client(create_sim_app(sample.world)),
    )
    service.job.archive_recording(recording.sid)
    analysis = service.analyses.analyse(recording.sid)
    assert analysis.metrics["paused_ms"] == pytest.approx(6000, abs=50)
    engine.dispose()
