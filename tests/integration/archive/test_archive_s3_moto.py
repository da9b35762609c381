"""The S3 back end against a real S3-compatible server (moto in server mode on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from sim_recordings import SimRecordings

import flexrec.archive.models  # noqa: F401 - registers the archive tables
from flexrec.archive.crypto import ArchiveKey
from flexrec.archive.retention import RetentionPolicy
from flexrec.archive.service import ArchiveService
from flexrec.archive.storage import BlobNotFound, InvalidKey, S3Storage, open_storage
from flexrec.db.base import Base, make_engine, make_session_factory
from flexsim import free_port
from flexsim.testing import make_wav

pytestmark = pytest.mark.slow

BUCKET = "flexrec-archive-test"
RE = "RE" + "1" * 32


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def test_s3_store_round_trip(s3_endpoint: str) -> None:
    store = open_storage(f"s3://{BUCKET}/tenant-a", s3_endpoint)
    assert isinstance(store, S3Storage)
    key = f"recordings/2026/03/04/{RE}.wav"
    assert not store.exists(key)
    store.put(key, b"RIFF-one")
    store.put(key, b"RIFF-two")  # one object, replaced
    store.put("recordings/other.wav", b"x")
    assert store.get(key) == b"RIFF-two"
    assert store.exists(key)
    assert store.list_keys("recordings/2026") == [key]
    assert store.size(key) == len(b"RIFF-two")
    assert store.get_range(key, 2, 4) == b"FF-"
    # The prefix keeps tenants apart inside one bucket.
    raw = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=BUCKET)
    assert sorted(o["Key"] for o in raw["Contents"]) == [
        "tenant-a/recordings/2026/03/04/" + f"{RE}.wav",
        "tenant-a/recordings/other.wav",
    ]
    store.delete(key)
    store.delete(key)
    assert not store.exists(key)
    with pytest.raises(BlobNotFound):
        store.get(key)
    with pytest.raises(InvalidKey):
        store.put("../escape", b"x")


def test_archive_job_and_retention_on_s3_with_encryption(s3_endpoint: str, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'flexrec.db'}")
    Base.metadata.create_all(engine)
    twilio = SimRecordings()
    wav = make_wav(duration_s=2.0)
    twilio.add(RE, "CA" + "2" * 32, wav)
    store = S3Storage(BUCKET, "archive", endpoint_url=s3_endpoint)
    service = ArchiveService(
        make_session_factory(engine),
        store,
        twilio.sdk_client(),
        key=ArchiveKey(b"e" * 32),
        delete_from_twilio=True,
        retention=RetentionPolicy(30),
    )
    row = service.job.archive_recording(RE)
    assert row.state == "deleted_from_twilio"
    assert row.storage_key == f"recordings/2026/03/04/{RE}.wav.enc"
    sealed = store.get(row.storage_key)
    assert sealed[:4] == b"FXRA" and wav not in sealed
    assert service.reader.read_media(RE) == wav
    assert service.job.archive_recording(RE).state == "deleted_from_twilio"  # idempotent
    assert store.list_keys() == [row.storage_key]

    assert row.retain_until is not None
    assert service.holds.apply_retention(row.retain_until + timedelta(seconds=1)) == [RE]
    assert store.list_keys() == []
    engine.dispose()


def test_unreachable_s3_is_a_retryable_storage_error() -> None:
    from flexrec.archive.storage import StorageError

    store = S3Storage(BUCKET, endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StorageError):
        store.put("recordings/x.wav", b"x")
