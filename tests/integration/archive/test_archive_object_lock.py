"""WORM against a real S3 server that enforces Object Lock (SeaweedFS on loopback).

Whatever flexrec's database says, the storage itself refuses to delete a locked version before
its retain-until date; flexrec reports and audits the refusal instead of retrying for ever,
sets and clears the object's legal hold, and deletes expired versions by version ID.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from servers import S3Server
from sim_recordings import SimRecordings
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

import flexrec.archive.models  # noqa: F401 - registers the archive tables
from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.holds import apply_object_holds
from flexrec.archive.models import ArchivedRecording, SealedObject
from flexrec.archive.retention import RetentionPolicy
from flexrec.archive.service import ArchiveService, RecordingContext
from flexrec.archive.storage import NotWormError, ObjectLock, ObjectLockedError, S3Storage
from flexrec.db.base import Base, make_engine, make_session_factory

pytestmark = pytest.mark.slow


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


@pytest.fixture
def s3(seaweedfs_s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs_s3.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("s3", endpoint_url=seaweedfs_s3.endpoint_url)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"worm-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture
def store(bucket: str, seaweedfs_s3: S3Server, s3: Any) -> S3Storage:
    return S3Storage(bucket, "archive", endpoint_url=seaweedfs_s3.endpoint_url)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'flexrec.db'}")
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


def test_a_bucket_without_object_lock_is_named_clearly(
    s3: Any, seaweedfs_s3: S3Server, store: S3Storage
) -> None:
    plain = f"plain-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=plain)
    with pytest.raises(NotWormError, match="has no versioning and Object Lock"):
        S3Storage(plain, endpoint_url=seaweedfs_s3.endpoint_url).check_worm()
    assert "Object Lock enabled" in store.check_worm()


def test_locked_versions_cannot_be_deleted_before_their_date(store: S3Storage) -> None:
    until = datetime.now(UTC) + timedelta(hours=1)
    attempts = refused = 0
    for n, mode in enumerate(("COMPLIANCE", "GOVERNANCE") * 5):
        key = f"recordings/{n}.wav"
        version = store.put_version(key, b"RIFF" + bytes([n]), ObjectLock(mode, until))  # type: ignore[arg-type]
        assert version is not None
        state = store.lock_state(key, version)
        assert (state.mode, state.exists) == (mode, True)
        for bypass in (False, mode == "COMPLIANCE"):
            attempts += 1
            with pytest.raises(ObjectLockedError):
                store.delete_version(key, version, bypass_governance=bypass)
            refused += 1
        # A plain DELETE only hides it under a delete marker; the sealed version stays whole.
        store.delete(key)
        after = store.lock_state(key, version)
        assert after.exists and after.delete_marker_on_top
        assert store.get_version(key, version) == b"RIFF" + bytes([n])
    print(f"locked-version deletes refused by the server: {refused}/{attempts}")
    assert refused == attempts


def test_legal_hold_is_set_and_cleared_on_the_object(
    store: S3Storage, sessions: sessionmaker[Session]
) -> None:
    twilio = SimRecordings()
    recording = sid("RE", 1)
    twilio.add(recording, sid("CA", 1))
    archive = ArchiveService(sessions, store, twilio.sdk_client())
    archive.job.archive_recording(recording)
    with sessions() as session:
        manifest = session.scalars(select(SealedObject)).one()
    key, version = manifest.storage_key, str(manifest.version_id)
    archive.holds.set_legal_hold(recording, True, "legal@example.com", "matter 1")
    assert store.lock_state(key, version).legal_hold
    with pytest.raises(ObjectLockedError):
        store.delete_version(key, version)
    archive.holds.set_legal_hold(recording, False, "legal@example.com", "closed")
    assert not store.lock_state(key, version).legal_hold
    assert apply_object_holds(sessions, store) == 0


def test_retention_deletes_expired_versions_and_reports_what_the_server_refuses(
    store: S3Storage, sessions: sessionmaker[Session]
) -> None:
    twilio = SimRecordings()
    started = datetime.now(UTC)
    policy = RetentionPolicy.from_mapping(
        {"default_days": 1, "by_queue": {"Trading": {"days": 1, "legal_obligation": True}}}
    )
    recordings = {"RE-expiring": sid("RE", 10), "RE-obliged": sid("RE", 11)}
    for n, recording in enumerate(recordings.values()):
        twilio.add(recording, sid("CA", 10 + n), start_time=started)
    queue = {recordings["RE-obliged"]: "Trading"}
    archive = ArchiveService(
        sessions,
        store,
        twilio.sdk_client(),
        retention=policy,
        context_provider=lambda s, _c: RecordingContext(queue_name=queue.get(s, "Sales")),
    )
    for recording in recordings.values():
        archive.job.archive_recording(recording)
    with sessions() as session:
        manifests = {m.recording_sid: m for m in session.scalars(select(SealedObject))}
    assert manifests[recordings["RE-obliged"]].lock_mode == "COMPLIANCE"
    assert manifests[recordings["RE-expiring"]].lock_mode is None
    # Make the unlocked one due; and lie about the locked one, as a database editor could.
    with sessions() as session:
        session.execute(
            update(ArchivedRecording).values(retain_until=started - timedelta(seconds=1))
        )
        session.commit()
    purged = archive.holds.apply_retention()
    assert purged == [recordings["RE-expiring"]]
    expiring = manifests[recordings["RE-expiring"]]
    assert store.version_ids(expiring.storage_key) == []  # every version, by version ID
    obliged = manifests[recordings["RE-obliged"]]
    assert store.get_version(obliged.storage_key, str(obliged.version_id))
    with sessions() as session:
        refused = session.scalars(select(AuditLog).where(AuditLog.action == "purge_refused")).one()
        row = session.scalars(
            select(ArchivedRecording).where(
                ArchivedRecording.recording_sid == recordings["RE-obliged"]
            )
        ).one()
    assert refused.recording_sid == recordings["RE-obliged"]
    storage_until = store.lock_state(obliged.storage_key, str(obliged.version_id)).retain_until
    assert storage_until is not None and row.retain_until is not None
    assert abs((row.retain_until - storage_until).total_seconds()) < 1
    assert archive.holds.apply_retention() == []  # no retry before the storage's date
    with sessions() as session:
        count = session.scalars(select(AuditLog).where(AuditLog.action == "purge_refused")).all()
    assert len(count) == 1


def test_expired_versions_are_deleted_on_time(store: S3Storage) -> None:
    until = datetime.now(UTC) + timedelta(seconds=3)
    key = "recordings/short.wav"
    version = store.put_version(key, b"RIFF", ObjectLock("COMPLIANCE", until))
    assert version is not None
    with pytest.raises(ObjectLockedError):
        store.delete_version(key, version)
    state = store.lock_state(key, version)
    assert state.retain_until is not None
    wait_s = (state.retain_until - datetime.now(UTC)).total_seconds() + 1.0
    import time

    time.sleep(max(0.0, wait_s))  # the lock's own date: the subject of the test
    store.delete_version(key, version)
    assert store.version_ids(key) == []


def test_playback_and_verify_hold_to_the_sealed_version_on_s3(
    store: S3Storage, sessions: sessionmaker[Session]
) -> None:
    from flexrec.custody.verify import verify_archive
    from flexsim.testing import make_wav

    twilio = SimRecordings()
    recording = sid("RE", 20)
    wav = make_wav(duration_s=2.0)
    twilio.add(recording, sid("CA", 20), wav)
    archive = ArchiveService(sessions, store, twilio.sdk_client())
    archive.job.archive_recording(recording)
    with sessions() as session:
        manifest = session.scalars(select(SealedObject)).one()
    assert verify_archive(sessions, store).ok
    store.put(manifest.storage_key, b"RIFF-forged")  # a new version on top of the sealed one
    assert archive.reader.read_media(recording) == wav
    assert archive.reader.read_media_range(recording, 10, 19) == wav[10:20]
    assert archive.reader.media_size(recording) == len(wav)
    report = verify_archive(sessions, store)
    assert [(p.kind, p.subject.split()[0]) for p in report.problems] == [("overwritten", recording)]
