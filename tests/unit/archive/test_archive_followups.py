"""What builds on archived media: waveform, analysis, the Insights entry, access rules, backfill."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sim_recordings import SimRecordings
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

import flexrec.analysis
from flexrec.analysis import digital_silence, frame_stats
from flexrec.archive.backfill import BackfillProgress, backfill
from flexrec.archive.models import SealedObject
from flexrec.archive.service import (
    ArchiveService,
    RecordingContext,
    RecordingNotArchived,
    analysis_labels,
)
from flexrec.archive.waveform import decode_waveform, encode_waveform
from flexsim.testing import make_wav

RE = "RE" + "1" * 32
CA = "CA" + "2" * 32
WK = "WK" + "4" * 32


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def test_the_waveform_holds_each_bucket_s_peak_per_channel() -> None:
    rate = 8000
    audio = np.zeros((rate + 100, 2), dtype=np.int16)  # 1 s and a partial bucket
    audio[0:160, 0] = 16384  # first bucket of channel 1 is constant 0.5
    audio[160:320, 1] = np.linspace(-8192, 24576, 160).astype(np.int16)
    audio[-1, 0] = -29491  # a lone extreme in the final, partial bucket (-0.9)
    waveform = decode_waveform(encode_waveform(frame_stats(audio, rate)))
    assert (waveform.bucket_samples, waveform.buckets_per_s) == (160, 50)
    assert waveform.duration_ms == (rate + 100) * 1000 // rate
    assert waveform.buckets == 51
    customer, agent = waveform.amplitude()
    assert customer[0] == pytest.approx(0.5, abs=waveform.step)
    assert agent[1] == pytest.approx(0.75, abs=waveform.step)  # the larger side of the bucket
    assert customer[-1] == pytest.approx(0.9, abs=waveform.step)
    # As wavesurfer.js takes peaks: max then min of each bucket, mirrored.
    assert tuple(waveform.as_floats().reshape(2, 51, 2)[1][1]) == (agent[1], -agent[1])


def test_the_waveform_is_computed_once_and_kept(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA, make_wav(duration_s=2.0))
    service = make_service()
    with pytest.raises(RecordingNotArchived):
        service.analyses.waveform(RE)
    service.job.archive_recording(RE)
    first = service.analyses.waveform(RE)
    waveform = decode_waveform(first)
    assert (waveform.channels, waveform.buckets) == (2, 100)
    assert waveform.as_floats()[0].max() > 0.1  # the synthetic bursts are visible
    service.store.delete(service.get(RE).storage_key or "")  # type: ignore[union-attr]
    assert service.analyses.waveform(RE) == first  # served from the analyses row, not the media


@dataclass(frozen=True)
class FakeMetrics:
    customer_talk_ms: int = 1200
    agent_talk_ms: int = 800
    silence_ms: int = 300
    cross_talk_ms: int = 50
    interruptions_by_agent: int = 1
    interruptions_by_customer: int = 0
    longest_agent_monologue_ms: int = 700
    longest_customer_monologue_ms: int = 1100
    talk_to_listen_ratio: float = 0.67
    time_to_first_agent_words_ms: int = 400


@dataclass(frozen=True)
class FakeAnalysis:
    metrics: FakeMetrics = field(default_factory=FakeMetrics)
    segments: tuple[dict[str, Any], ...] = ({"channel": "agent", "start_ms": 0, "end_ms": 800},)
    vad_config_version: str = "vad-test-1"


def test_analysis_is_stored_once_with_labels_mapped(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_analyse(power: Any, duration_ms: int, **kwargs: Any) -> FakeAnalysis:
        calls.append({"shape": power.shape, "duration_ms": duration_ms, **kwargs})
        return FakeAnalysis()

    monkeypatch.setattr(flexrec.analysis, "analyse_frame_power", fake_analyse, raising=False)
    twilio.add(RE, CA, make_wav(duration_s=2.0))
    context = RecordingContext(channel_labels=("others", "customer"), paused_ms=((100, 300),))
    service = make_service(context_provider=lambda *_: context)
    service.job.archive_recording(RE)

    analysis = service.analyses.analyse(RE)
    again = service.analyses.analyse(RE)

    assert len(calls) == 1  # idempotent
    assert calls[0]["shape"] == (2, 100)  # the frame powers of both channels, 50 a second
    assert calls[0]["duration_ms"] == 2000
    assert calls[0]["channels"] == ("agent", "customer")
    assert calls[0]["paused"] == ((100, 300),)
    assert again.id == analysis.id
    assert (analysis.customer_talk_ms, analysis.agent_talk_ms) == (1200, 800)
    assert analysis.talk_to_listen_ratio == pytest.approx(0.67)
    assert analysis.time_to_first_agent_words_ms == 400
    assert analysis.segments == [{"channel": "agent", "start_ms": 0, "end_ms": 800}]
    assert analysis.vad_config_version == "vad-test-1"
    assert analysis.metrics["cross_talk_ms"] == 50
    assert analysis.waveform is not None and decode_waveform(analysis.waveform).channels == 2
    assert analysis.duration_ms == 2000


def test_the_analysis_is_saved_and_sealed_in_one_transaction_reading_the_row_twice(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    sessions: sessionmaker[Session],
) -> None:
    """Every recording's analysis job: the archive row read where the job starts and again in
    the transaction that saves and seals the analysis (purged meanwhile? then no seal), one
    commit, the media read once."""
    twilio.add(RE, CA, make_wav(duration_s=2.0))
    service = make_service()
    service.job.archive_recording(RE)
    engine = sessions.kw["bind"]
    row_reads: list[str] = []
    commits: list[int] = []
    media_reads: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT") and "FROM archived_recordings" in sql:
            row_reads.append(sql)

    real_get = service.deps.store.get

    def get(key: str) -> bytes:
        media_reads.append(key)
        return real_get(key)

    def commit(_conn: Any) -> None:
        commits.append(1)

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    service.deps.store.get = get  # type: ignore[method-assign]
    try:
        analysis = service.analyses.analyse(RE)
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    assert analysis.state == "done"
    assert (len(row_reads), len(commits), len(media_reads)) == (2, 1, 1)
    with sessions() as session:
        kinds = sorted(m.kind for m in session.scalars(select(SealedObject)))
    assert kinds == ["analysis", "audio"]


def test_analysis_labels_fall_back_to_customer_agent() -> None:
    assert analysis_labels(["customer", "others"]) == ("customer", "agent")
    assert analysis_labels(None) == ("customer", "agent")
    assert analysis_labels(["left", "right"]) == ("customer", "agent")


def test_attribute_entry_points_insights_at_the_archive(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)
    service = make_service(
        context_provider=lambda *_: RecordingContext(channel_labels=("customer", "others"))
    )
    with pytest.raises(RecordingNotArchived):
        service.access.attribute_entry(RE, "https://rec.example.com")
    service.job.archive_recording(RE)
    entry = service.access.attribute_entry(RE, "https://rec.example.com/")
    assert entry == {
        "type": "VoiceRecording",
        "url": f"https://rec.example.com/media/recordings/{RE}.wav",
        "url_provider": f"https://rec.example.com/insights/recordings/{RE}/url",
        "start_time": int(datetime(2026, 3, 4, 10, 0, tzinfo=UTC).timestamp() * 1000),
        "channels": ["customer", "others"],
    }


def test_agents_see_only_their_own_calls(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)
    context = RecordingContext(worker_sid=WK, agent_identity="alice")
    service = make_service(context_provider=lambda *_: context)
    service.job.archive_recording(RE)
    assert service.access.may_access(RE, WK, ("agent",))
    # A name is not a credential: the same friendly name without the worker SID hears nothing.
    assert not service.access.may_access(RE, None, ("agent",))
    assert not service.access.may_access(RE, "WK" + "5" * 32, ("agent",))
    assert service.access.may_access(RE, "WK" + "5" * 32, ("supervisor",))
    assert service.access.may_access(RE, None, ("admin",))
    assert not service.access.may_access("RE" + "9" * 32, WK, ("agent",))


def test_an_agent_who_took_a_transfer_may_listen_too(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    sessions: Any,
) -> None:
    from flexrec.db.models import AttributeWrite, RecordingTarget, ReservationRecord

    wt_first, wt_second = sid("WT", 1), sid("WT", 2)
    bob, carol = sid("WK", 2), sid("WK", 3)
    twilio.add(RE, CA)
    context = RecordingContext(task_sids=(wt_first, wt_second), worker_sid=WK)
    service = make_service(context_provider=lambda *_: context)
    service.job.archive_recording(RE)
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    with sessions() as session:
        # The recording service's rows: started for the first task, linked into the second.
        target = RecordingTarget(
            leg_key=f"customer:{CA}", call_sid=CA, leg="customer", task_sid=wt_first,
            state="completed", recording_sid=RE, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(target)
        session.flush()
        session.add(
            AttributeWrite(task_sid=wt_second, target_id=target.id, status="done", created_at=now)
        )
        session.add_all(
            [
                ReservationRecord(
                    sid=sid("WR", 2),
                    task_sid=wt_second,
                    worker_sid=bob,
                    status="accepted",
                    accepted_ms=5000,
                    updated_at=now,
                ),
                ReservationRecord(  # offered to carol, never accepted
                    sid=sid("WR", 3),
                    task_sid=wt_second,
                    worker_sid=carol,
                    status="rejected",
                    updated_at=now,
                ),
            ]
        )
        session.commit()
    assert service.access.may_access(RE, bob, ("agent",))
    assert not service.access.may_access(RE, carol, ("agent",))


def test_backfill_archives_completed_recordings_and_reports_progress(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    early = datetime(2026, 1, 1, tzinfo=UTC)
    twilio.add(sid("RE", 1), sid("CA", 1), start_time=early)
    twilio.add(sid("RE", 2), sid("CA", 2))
    twilio.add(sid("RE", 3), sid("CA", 3), status="in-progress")
    twilio.add(sid("RE", 4), sid("CA", 4), duration_s=30)  # media shorter than Twilio says
    service = make_service()
    service.job.archive_recording(sid("RE", 2))  # archived live already
    seen: list[BackfillProgress] = []

    report = backfill(service.twilio, service.job, progress=seen.append)

    assert report.archived == [sid("RE", 1)]
    assert report.already == [sid("RE", 2)]
    assert report.skipped == [sid("RE", 3)]
    assert list(report.failed) == [sid("RE", 4)]
    assert "Twilio reports 30 s" in report.failed[sid("RE", 4)]
    assert [p.done for p in seen] == [1, 2, 3, 4]
    # In Twilio's order: newest first (RE1 started two months before the others).
    assert [p.outcome for p in seen] == ["failed", "skipped", "already", "archived"]
    row = service.get(sid("RE", 1))
    assert row is not None and row.state == "verified" and row.call_sid == sid("CA", 1)

    # Running again downloads nothing new for the archived ones.
    media_before = twilio.count("GET", ".wav")
    second = backfill(service.twilio, service.job, since=datetime(2026, 2, 1, tzinfo=UTC))
    assert sid("RE", 1) not in second.already + second.archived  # filtered out by date
    assert second.already == [sid("RE", 2)]
    assert twilio.count("GET", ".wav") - media_before == 1  # only RE4 is tried again


def test_real_analysis_measures_the_synthetic_conversation(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    # make_wav puts the customer's burst at 0-2 s and the agent's at 1.5-3.5 s of 6 s.
    twilio.add(RE, CA, make_wav(duration_s=6.0))
    service = make_service()
    service.job.archive_recording(RE)
    analysis = service.analyses.analyse(RE)
    assert analysis.state == "done"
    assert analysis.vad_config_version
    assert analysis.customer_talk_ms == pytest.approx(2000, abs=150)
    assert analysis.agent_talk_ms == pytest.approx(2000, abs=150)
    assert analysis.cross_talk_ms == pytest.approx(500, abs=150)
    assert analysis.time_to_first_agent_words_ms == pytest.approx(1500, abs=150)
    assert analysis.interruptions_by_agent == 1
    assert [s["speaker"] for s in analysis.segments] == ["customer", "agent"]
    assert "segments" not in analysis.metrics


def test_bytes_lru_evicts_by_total_size() -> None:
    from flexrec.archive.service import BytesLru

    cache = BytesLru(10)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"  # now the most recent
    cache.put("c", b"cccc")  # 12 bytes > 10: evicts the least recent, "b"
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (b"aaaa", b"cccc")
    cache.put("huge", b"x" * 11)  # larger than the budget: not cached at all
    assert cache.get("huge") is None and cache.get("a") == b"aaaa"


def test_mono_recording_gets_talk_and_silence_and_a_settled_mono_state(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    # A Studio flow's mono recording: one speech-like burst in the first third of 6 s.
    twilio.add(RE, CA, make_wav(duration_s=6.0, channels=1), channels=1)
    service = make_service()
    service.job.note_completed(RE, CA, None, 1)  # the callback said this one is mono
    row = service.job.archive_recording(RE)
    assert (row.state, row.channels) == ("verified", 1)
    assert service.analyses.unanalysed() == [RE]
    analysis = service.analyses.analyse(RE)  # an outcome, not an error
    assert analysis.state == "mono" and analysis.last_error is None
    talk = analysis.metrics["talk_ms"]
    assert 1_700 <= talk <= 2_300  # the burst, measured from the one channel
    assert analysis.silence_ms == analysis.duration_ms - talk
    assert analysis.metrics["channels"] == 1
    # Nobody to tell apart: no per-side figure is made up.
    assert analysis.customer_talk_ms is None and analysis.agent_talk_ms is None
    assert {s["speaker"] for s in analysis.segments} == {"mixed"}
    assert service.analyses.unanalysed() == []  # settled: the reconciler leaves it be
    assert service.analyses.analyse(RE).id == analysis.id  # idempotent
    waveform = service.analyses.waveform(RE)  # the console gets a one-channel waveform
    assert decode_waveform(waveform).channels == 1


def test_digital_silence_runs_are_found_and_spans_merged() -> None:
    from flexrec.archive.media import merge_spans

    rate = 8000
    audio = np.full((5 * rate, 2), 300, dtype=np.int16)
    audio[rate : 2 * rate + rate // 2] = 0  # 1.5 s of digital silence on both channels: a pause
    audio[3 * rate : 3 * rate + 900 * 8, 0] = 0  # one channel only (a muted side): not a pause
    audio[4 * rate : 4 * rate + rate // 2] = 0  # both, but too short
    stats = frame_stats(audio, rate)
    assert digital_silence(audio, stats, 1000) == [(1000, 2500)]
    assert digital_silence(audio, stats, 400) == [(1000, 2500), (4000, 4500)]
    assert merge_spans([(0, 10), (50, 60)], [(5, 20), (60, 70)]) == [(0, 20), (50, 70)]


def test_silenced_pause_is_left_out_of_the_metrics(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    import io

    import soundfile as sf

    audio, rate = sf.read(io.BytesIO(make_wav(duration_s=8.0)), dtype="float32")
    audio[5 * rate : 7 * rate] = 0.0  # what pauseBehavior=silence leaves in the recording
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    twilio.add(RE, CA, buffer.getvalue())
    service = make_service()
    service.job.archive_recording(RE)
    analysis = service.analyses.analyse(RE)
    assert analysis.metrics["paused_ms"] == pytest.approx(2000, abs=20)
    assert analysis.silence_ms is not None
    assert analysis.silence_ms + (analysis.metrics["total_talk_ms"]) == pytest.approx(6000, abs=20)


def test_the_analysis_maps_a_plain_local_recording_instead_of_copying_it(
    tmp_path: Path,
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The analysis job's one read of a plain recording in a local folder is the file mapped:
    the store is never asked for a copy, and the row is what an analysis of the bytes gives."""
    from flexrec.archive.analyses import analyse_media
    from flexrec.archive.analysis_rows import analysis_labels
    from flexrec.archive.storage import LocalStorage

    wav = make_wav(duration_s=6.0)
    twilio.add(RE, CA, wav)
    service = make_service(store=LocalStorage(tmp_path / "archive"))
    service.job.archive_recording(RE)
    copies: list[str] = []
    real_get = LocalStorage.get

    def counted_get(store: LocalStorage, key: str) -> bytes:
        copies.append(key)
        return real_get(store, key)

    monkeypatch.setattr(LocalStorage, "get", counted_get)
    analysis = service.analyses.analyse(RE)
    assert copies == []
    expected = analyse_media(wav, analysis_labels(None), [])
    assert expected.values is not None
    assert analysis.segments == expected.values["segments"]
    assert analysis.waveform == expected.waveform
