"""Sealing and Object Lock through the archive job, holds and retention (in-memory WORM store)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sim_recordings import SimRecordings
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.crypto import ArchiveKey
from flexrec.archive.models import ArchivedRecording, SealedObject
from flexrec.archive.redaction import RedactionReport
from flexrec.archive.retention import RetentionPolicy, RetentionPolicyError
from flexrec.archive.seal import sealed_detail
from flexrec.archive.service import ArchiveFailedError, ArchiveService, RecordingContext
from flexrec.archive.storage import LocalStorage
from flexrec.archive.worm import MemoryWormStorage, NotWormError, require_worm
from flexrec.config import Settings, StorageSettings
from flexsim.testing import make_wav

RE = "RE" + "1" * 32
CA = "CA" + "2" * 32
KEY = f"recordings/2026/03/04/{RE}.wav"
TRADING = RetentionPolicy.from_mapping(
    {
        "default_days": 30,
        "lock": "governance",
        "by_queue": {"Trading": {"days": 2555, "legal_obligation": True}},
    }
)


def _context(queue: str) -> Callable[[str, str | None], RecordingContext]:
    return lambda _sid, _call: RecordingContext(queue_name=queue, customer_number="+15550001")


@pytest.fixture
def worm(clock: Callable[[], datetime]) -> MemoryWormStorage:
    return MemoryWormStorage(clock=clock)


def _manifest(sessions: sessionmaker[Session]) -> SealedObject:
    with sessions() as session:
        return session.scalars(select(SealedObject).where(SealedObject.recording_sid == RE)).one()


def test_a_legal_obligation_is_sealed_under_a_compliance_lock_until_its_date(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
) -> None:
    wav = make_wav(duration_s=2.0)
    twilio.add(RE, CA, wav)
    key = ArchiveKey(b"k" * 32)
    service = make_service(
        store=worm, key=key, retention=TRADING, context_provider=_context("Trading")
    )
    row = service.job.archive_recording(RE)
    manifest = _manifest(sessions)
    stored = worm.get_version(f"{KEY}.enc", str(manifest.version_id))
    assert manifest.stored_sha256 == hashlib.sha256(stored).hexdigest()
    assert manifest.plain_sha256 == hashlib.sha256(wav).hexdigest() == row.sha256
    assert (manifest.size_bytes, manifest.plain_size_bytes) == (len(stored), len(wav))
    assert (manifest.call_sid, manifest.channels, manifest.duration_ms) == (CA, 2, 2000)
    assert manifest.lock_mode == "COMPLIANCE" and manifest.legal_obligation
    state = worm.lock_state(f"{KEY}.enc", str(manifest.version_id))
    assert state.mode == "COMPLIANCE" and state.retain_until == row.retain_until
    assert row.retain_until == datetime(2026, 3, 4, 10, 0, tzinfo=UTC) + timedelta(days=2555)
    with sessions() as session:
        sealed = session.scalars(select(AuditLog).where(AuditLog.action == "sealed")).one()
    assert sealed.detail == sealed_detail(manifest)


def test_a_rule_that_only_allows_it_gets_a_governance_lock(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
) -> None:
    twilio.add(RE, CA)
    make_service(
        store=worm, retention=TRADING, context_provider=_context("Sales")
    ).job.archive_recording(RE)
    manifest = _manifest(sessions)
    assert (manifest.lock_mode, manifest.legal_obligation) == ("GOVERNANCE", False)


def test_the_redaction_stage_runs_before_sealing_and_its_report_is_kept(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
) -> None:
    wav = make_wav(duration_s=2.0)
    twilio.add(RE, CA, wav)
    redacted = wav[:-100] + bytes(100)

    def redact(sid: str, audio: bytes) -> tuple[bytes, RedactionReport | None]:
        assert (sid, audio) == (RE, wav)
        source = hashlib.sha256(audio).hexdigest()
        return redacted, RedactionReport(source, ((1500, 2000),), {"detector": "test"})

    make_service(store=worm, redactor=redact).job.archive_recording(RE)
    manifest = _manifest(sessions)
    assert manifest.plain_sha256 == hashlib.sha256(redacted).hexdigest()
    assert manifest.source_sha256 == hashlib.sha256(wav).hexdigest()
    assert manifest.redaction == {
        "source_sha256": manifest.source_sha256,
        "spans_ms": [[1500, 2000]],
        "detector": "test",
    }
    assert worm.versions_of(KEY) == [redacted]  # the original never reached the store


def test_a_legal_hold_is_set_and_cleared_on_the_stored_version(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
) -> None:
    from flexrec.archive.holds import apply_object_holds, place_hold, release_hold

    twilio.add(RE, CA)
    service = make_service(store=worm)
    service.job.archive_recording(RE)
    version = str(_manifest(sessions).version_id)
    service.holds.set_legal_hold(RE, True, "legal@example.com", "matter 7")
    assert worm.lock_state(KEY, version).legal_hold
    # The CLI and the APIs write the hold only; the periodic job brings the storage along.
    release_hold(sessions, RE, "cli:ops", "closed")
    assert worm.lock_state(KEY, version).legal_hold
    assert apply_object_holds(sessions, worm) == 1
    assert not worm.lock_state(KEY, version).legal_hold
    place_hold(sessions, RE, "cli:ops", "again")
    assert apply_object_holds(sessions, worm) == 1 and apply_object_holds(sessions, worm) == 0
    assert worm.lock_state(KEY, version).legal_hold


def test_expired_versions_and_delete_markers_are_deleted_by_version_id(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
) -> None:
    twilio.add(RE, CA)
    service = make_service(store=worm, retention=TRADING, context_provider=_context("Sales"))
    row = service.job.archive_recording(RE)
    worm.delete(KEY)  # someone's plain DELETE: only a delete marker, the data stays
    assert len(worm.version_ids(KEY)) == 2
    assert service.holds.apply_retention(now=clock()) == []  # not expired yet
    assert row.retain_until is not None
    clock.now = row.retain_until  # type: ignore[attr-defined]  # the storage's clock too
    assert service.holds.apply_retention(now=row.retain_until) == [RE]
    assert worm.version_ids(KEY) == []
    manifest = _manifest(sessions)
    assert manifest.removed_reason == "retention" and manifest.removed_at is not None


def test_a_delete_the_storage_refuses_is_audited_and_waits_for_the_storage_date(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
) -> None:
    twilio.add(RE, CA)
    service = make_service(store=worm, retention=TRADING, context_provider=_context("Trading"))
    row = service.job.archive_recording(RE)
    locked_until = row.retain_until
    # Someone with database access moves the date into the past: the storage still refuses.
    with sessions() as session:
        tampered = session.get(ArchivedRecording, row.id)
        assert tampered is not None
        tampered.retain_until = clock() - timedelta(days=1)
        session.commit()
    assert service.holds.apply_retention(now=clock()) == []
    assert len(worm.version_ids(KEY)) == 1
    with sessions() as session:
        refused = session.scalars(select(AuditLog).where(AuditLog.action == "purge_refused")).one()
        again = session.get(ArchivedRecording, row.id)
    assert refused.detail["refused"][0]["retain_until"] == str(locked_until.isoformat())
    assert again is not None and again.retain_until == locked_until
    # The next sweep does not try again before the storage's own date.
    assert service.holds.apply_retention(now=clock()) == []
    with sessions() as session:
        assert (
            len(session.scalars(select(AuditLog).where(AuditLog.action == "purge_refused")).all())
            == 1
        )


def test_the_local_folder_says_it_is_not_worm_and_refuses_a_worm_policy(tmp_path: Path) -> None:
    with pytest.raises(NotWormError, match="not WORM"):
        require_worm(LocalStorage(tmp_path), "the retention policy asks for WORM")
    policy = tmp_path / "policy.toml"
    policy.write_text('[retention]\ndefault_days = 30\nlock = "governance"\n')
    settings = Settings(storage=StorageSettings(data_dir=tmp_path))
    settings.policy.policy_file = policy
    with pytest.raises(NotWormError, match="read-only files are not a control"):
        ArchiveService.from_settings(settings, sessionmaker(), None)


def test_a_locked_rule_on_a_store_without_versions_fails_the_job_clearly(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    tmp_path: Path,
) -> None:
    twilio.add(RE, CA)
    service = make_service(store=LocalStorage(tmp_path), retention=TRADING, max_attempts=1)
    with pytest.raises(ArchiveFailedError, match="not WORM"):
        service.job.archive_recording(RE)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"lock": "compliance"}, "only a rule marked legal_obligation"),
        ({"default_days": 0, "legal_obligation": True}, "needs a number of days"),
        ({"by_queue": {"X": {"days": 5, "lock": "sealed"}}}, "lock must be one of"),
        ({"worm": "yes"}, "worm must be true or false"),
    ],
)
def test_lock_rules_are_checked(section: dict[str, object], message: str) -> None:
    with pytest.raises(RetentionPolicyError, match=message):
        RetentionPolicy.from_mapping(section)


def test_the_analysis_is_stored_locked_and_sealed_like_its_audio(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
) -> None:
    from flexrec.archive.jobs import JOB_ANALYSE, JOB_ARCHIVE, register_archive_jobs
    from flexrec.custody.verify import verify_archive
    from flexrec.jobs.queue import InlineJobQueue

    twilio.add(RE, CA, make_wav(duration_s=3.0))
    key = ArchiveKey(b"a" * 32)
    service = make_service(
        store=worm, key=key, retention=TRADING, context_provider=_context("Trading")
    )
    queue = InlineJobQueue()
    register_archive_jobs(queue, service)
    queue.enqueue(JOB_ARCHIVE, RE)
    queue.run_all()
    assert [job.name for job in queue.history] == [JOB_ARCHIVE, JOB_ANALYSE]
    with sessions() as session:
        sealed = {m.kind: m for m in session.scalars(select(SealedObject))}
    analysis = sealed["analysis"]
    assert analysis.storage_key == f"analyses/2026/03/04/{RE}.json.enc"
    state = worm.lock_state(analysis.storage_key, str(analysis.version_id))
    assert state.mode == "COMPLIANCE" and state.retain_until == sealed["audio"].retain_until
    document = key.open(worm.get_version(analysis.storage_key, str(analysis.version_id)), RE)
    assert hashlib.sha256(document).hexdigest() == analysis.plain_sha256
    assert b'"recording_sid":"' + RE.encode() in document
    # Sealing again changes nothing; verify reads both objects.
    queue.enqueue(JOB_ANALYSE, RE)
    queue.run_all()
    assert len(worm.version_ids(analysis.storage_key)) == 1
    report = verify_archive(sessions, worm, key=key, clock=clock)
    assert report.ok and report.objects == 2


def test_two_jobs_sealing_one_analysis_at_once_leave_one_manifest_and_no_error(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two analyse jobs of one recording (seen in the soak): the second seals between the
    # first's look for a manifest and its commit, which then meets the second's manifest
    # (UNIQUE recording, kind).
    from flexrec.archive import seal as seal_module
    from flexrec.archive.jobs import JOB_ARCHIVE, register_archive_jobs
    from flexrec.archive.seal import seal_document
    from flexrec.jobs.queue import InlineJobQueue

    twilio.add(RE, CA, make_wav(duration_s=3.0))
    service = make_service(store=worm, retention=TRADING, context_provider=_context("Trading"))
    queue = InlineJobQueue()
    register_archive_jobs(queue, service)
    queue.enqueue(JOB_ARCHIVE, RE)
    queue.run_all(max_jobs=1)  # archived, its analysis not yet run
    document = {"recording_sid": RE, "peaks": [1, 2, 3]}
    detail = seal_module.sealed_detail
    raced: list[object] = []

    def detail_while_another_seals(manifest: SealedObject) -> object:
        if not raced:  # the first job, between its look for a manifest and its commit
            raced.append(None)
            raced[0] = seal_document(service.deps, RE, "analysis", document)
        return detail(manifest)

    monkeypatch.setattr(seal_module, "sealed_detail", detail_while_another_seals)
    sealed = seal_document(service.deps, RE, "analysis", document)
    assert sealed is not None and raced[0] is not None
    with sessions() as session:
        manifests = session.scalars(
            select(SealedObject).where(SealedObject.kind == "analysis")
        ).all()
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "sealed")).all()
    assert len(manifests) == 1 and manifests[0].plain_sha256 == sealed.plain_sha256
    assert [a.detail["kind"] for a in audit].count("analysis") == 1


def test_the_transcript_is_stored_locked_and_sealed_like_its_audio(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
) -> None:
    from flexrec.archive.jobs import JOB_ARCHIVE, register_archive_jobs
    from flexrec.custody.verify import verify_archive
    from flexrec.jobs.queue import InlineJobQueue

    twilio.add(RE, CA, make_wav(duration_s=3.0))
    key = ArchiveKey(b"a" * 32)
    service = make_service(
        store=worm, key=key, retention=TRADING, context_provider=_context("Trading")
    )
    # What the card-data stage kept for the recording (card digits already replaced).
    words = {"1": [["my", 100, 300], ["[card number]", 400, 6000]], "2": [["thanks", 10, 90]]}
    kept = {"recording_sid": RE, "engine": "pocketsphinx", "words": words}
    service.deps.transcripts = {RE: kept}.get
    queue = InlineJobQueue()
    register_archive_jobs(queue, service)
    queue.enqueue(JOB_ARCHIVE, RE)
    queue.run_all()
    with sessions() as session:
        sealed = {m.kind: m for m in session.scalars(select(SealedObject))}
    transcript = sealed["transcript"]
    assert transcript.storage_key == f"transcripts/2026/03/04/{RE}.json.enc"
    state = worm.lock_state(transcript.storage_key, str(transcript.version_id))
    assert state.mode == "COMPLIANCE" and state.retain_until == sealed["audio"].retain_until
    document = json.loads(
        key.open(worm.get_version(transcript.storage_key, str(transcript.version_id)), RE)
    )
    assert document == kept
    report = verify_archive(sessions, worm, key=key, clock=clock)
    assert report.ok and report.objects == 3


@pytest.mark.parametrize("killed_before", ["transcript", "analysis"])
def test_a_kill_while_the_analysis_is_sealed_leaves_it_to_the_reconciler(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    monkeypatch: pytest.MonkeyPatch,
    killed_before: str,
) -> None:
    from flexrec.archive.jobs import JOB_ANALYSE, JOB_ARCHIVE, JOB_RECONCILE, register_archive_jobs
    from flexrec.custody.verify import verify_archive
    from flexrec.jobs.queue import InlineJobQueue

    twilio.add(RE, CA, make_wav(duration_s=3.0))
    service = make_service(store=worm, retention=TRADING, context_provider=_context("Trading"))
    service.deps.transcripts = {RE: {"recording_sid": RE, "words": {"1": [], "2": []}}}.get
    queue = InlineJobQueue()
    register_archive_jobs(queue, service)
    real_put = worm.put_version
    folder = {"transcript": "transcripts/", "analysis": "analyses/"}[killed_before]

    class Killed(BaseException):
        """The process dying: nothing after it runs, no handler sees it."""

    def put_until_killed(key: str, *args: object, **kwargs: object) -> str:
        if key.startswith(folder):
            raise Killed
        return real_put(key, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worm, "put_version", put_until_killed)
    queue.enqueue(JOB_ARCHIVE, RE)
    with pytest.raises(Killed):
        queue.run_all()
    with sessions() as session:
        # The row is saved in the transaction that seals it: none was left unsealed.
        assert service.analyses.find(session, RE) is None
    monkeypatch.setattr(worm, "put_version", real_put)
    # After the restart, the periodic reconcile finds the unsealed analysis.
    assert service.analyses.unanalysed() == [RE]
    queue.history.clear()
    queue.enqueue(JOB_RECONCILE)
    queue.run_all()
    assert [job.name for job in queue.history] == [JOB_RECONCILE, JOB_ANALYSE]
    with sessions() as session:
        kinds = sorted(m.kind for m in session.scalars(select(SealedObject)))
    assert kinds == ["analysis", "audio", "transcript"]
    assert service.analyses.unanalysed() == []
    report = verify_archive(sessions, worm, clock=clock)
    assert report.ok and report.objects == 3


def test_an_analysis_saved_without_its_seal_is_sealed_by_the_reconciler(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
    sessions: sessionmaker[Session],
) -> None:
    # As a kill between the save and the seal left it before both were one transaction.
    from flexrec.archive.jobs import JOB_ANALYSE, JOB_RECONCILE, register_archive_jobs
    from flexrec.archive.models import RecordingAnalysis
    from flexrec.jobs.queue import InlineJobQueue

    twilio.add(RE, CA, make_wav(duration_s=3.0))
    service = make_service(store=worm, retention=TRADING, context_provider=_context("Trading"))
    service.job.archive_recording(RE)

    def done(analysis: RecordingAnalysis) -> None:
        analysis.state = "done"
        analysis.segments = []

    service.analyses.save(RE, done)
    assert service.analyses.unanalysed() == [RE]
    queue = InlineJobQueue()
    register_archive_jobs(queue, service)
    queue.enqueue(JOB_RECONCILE)
    queue.run_all()
    assert [job.name for job in queue.history] == [JOB_RECONCILE, JOB_ANALYSE]
    with sessions() as session:
        assert sorted(m.kind for m in session.scalars(select(SealedObject))) == [
            "analysis",
            "audio",
        ]
    assert service.analyses.unanalysed() == []


def test_playback_reads_the_sealed_version_not_one_written_on_top(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    worm: MemoryWormStorage,
) -> None:
    wav = make_wav(duration_s=2.0)
    twilio.add(RE, CA, wav)
    service = make_service(store=worm)
    service.job.archive_recording(RE)
    forged = b"RIFF" + bytes(len(wav) - 4)
    worm.put(KEY, forged)  # someone with bucket access uploads over the key
    assert worm.get(KEY) == forged
    assert service.reader.read_media(RE) == wav
    assert service.reader.read_media_range(RE, 100, 199) == wav[100:200]
    assert service.reader.media_size(RE) == len(wav)
