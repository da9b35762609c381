"""The archive job: idempotent, resumable after a crash, retried, deleting from Twilio last."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sim_recordings import SimRecordings
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client

from flexrec.archive.crypto import ArchiveKey
from flexrec.archive.service import (
    ArchiveFailedError,
    ArchiveRetryableError,
    ArchiveService,
    RecordingContext,
)
from flexrec.archive.storage import LocalStorage, MemoryStorage
from flexrec.archive.storage.local import StagedFile
from flexrec.db.prepared import watch
from flexrec.twilio.client import PooledHttpClient
from flexrec.twilio.gateway import GatewayError, SdkGateway, media_wav_url
from flexsim.testing import make_wav

RE = "RE" + "1" * 32
CA = "CA" + "2" * 32
KEY = f"recordings/2026/03/04/{RE}.wav"


class Crash(BaseException):
    """Stands in for the process dying (not an Exception: nothing may catch it)."""


class LoggingStore(MemoryStorage):
    """A memory store that notes each operation with how many requests flexsim had answered
    by then (its place among Twilio's requests)."""

    def __init__(self, twilio: SimRecordings) -> None:
        super().__init__()
        self.twilio = twilio
        self.log: list[tuple[str, int]] = []
        self.crash_after_next_put = False
        self.corrupt_next_get = False
        self.crash_on_next_get = False

    def put(self, key: str, data: bytes) -> None:
        super().put(key, data)
        self.log.append(("STORE_PUT", len(self.twilio.requests)))
        if self.crash_after_next_put:
            self.crash_after_next_put = False
            raise Crash

    def get(self, key: str) -> bytes:
        self.log.append(("STORE_GET", len(self.twilio.requests)))
        if self.crash_on_next_get:
            self.crash_on_next_get = False
            raise Crash
        data = super().get(key)
        if self.corrupt_next_get:
            self.corrupt_next_get = False
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        return data


@pytest.fixture
def logging_store(twilio: SimRecordings) -> LoggingStore:
    return LoggingStore(twilio)


def media_gets(twilio: SimRecordings) -> int:
    return twilio.count("GET", f"/Recordings/{RE}.wav")


def test_archives_verifies_and_records_metadata(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService], store: MemoryStorage
) -> None:
    wav = make_wav(duration_s=3.0)
    twilio.add(RE, CA, wav)
    service = make_service()
    archived_hook: list[str] = []
    service.on_archived.append(archived_hook.append)

    row = service.job.archive_recording(RE)

    assert row.state == "verified"
    assert row.call_sid == CA
    assert row.storage_key == KEY
    assert store.get(KEY) == wav
    assert row.sha256 == hashlib.sha256(wav).hexdigest()
    assert (row.channels, row.sample_rate_hz, row.duration_ms) == (2, 8000, 3000)
    assert row.twilio_duration_s == 3
    assert row.size_bytes == len(wav)
    assert row.attempts == 1 and row.last_error is None
    assert not row.encrypted and row.key_id is None
    assert row.archived_at is not None
    started = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
    assert row.retain_until is not None
    assert row.retain_until.replace(tzinfo=UTC) == started + timedelta(days=365)
    assert archived_hook == [RE]
    # Downloaded as a dual-channel WAV with the account's credentials, then redirected.
    assert media_gets(twilio) == 1
    assert twilio.count("DELETE") == 0


def test_second_run_is_a_no_op(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService], store: MemoryStorage
) -> None:
    twilio.add(RE, CA)
    service = make_service()
    service.job.archive_recording(RE)
    again = service.job.archive_recording(RE)
    assert again.state == "verified"
    assert again.attempts == 1
    assert media_gets(twilio) == 1
    assert store.puts == 1


def test_uses_the_callback_media_url_and_requested_channels(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)
    seen: list[httpx.Request] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return twilio.handle(request)

    service = make_service(client=twilio.sdk_client(httpx.MockTransport(spy)))
    media_url = f"https://api.twilio.com/2010-04-01/Accounts/{twilio.account_sid}/Recordings/{RE}"
    service.job.note_completed(RE, CA, media_url, 2, duration_s=2)
    service.job.archive_recording(RE)
    first = seen[0]
    assert first.url.path.endswith(f"/Recordings/{RE}.wav")
    assert first.url.params["RequestedChannels"] == "2"
    assert first.headers["authorization"].startswith("Basic ")
    assert len(seen) == 1  # the media itself: no fetch of the resource first


def test_media_url_is_rebased_onto_the_simulator() -> None:
    http_client = PooledHttpClient("http://127.0.0.1:8181")
    twilio_url = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{RE}"
    url = http_client.rebase(media_wav_url(twilio_url))
    assert url == f"http://127.0.0.1:8181/2010-04-01/Accounts/AC1/Recordings/{RE}.wav"
    plain = media_wav_url(f"https://api.twilio.com/x/{RE}.json")
    assert plain == f"https://api.twilio.com/x/{RE}.wav"


def test_download_errors_are_retried_then_succeed(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)
    twilio.fail_next("media", 503)
    service = make_service()
    with pytest.raises(ArchiveRetryableError, match="503"):
        service.job.archive_recording(RE)
    row = service.get(RE)
    assert row is not None
    assert (row.state, row.attempts) == ("downloading", 1)
    assert row.last_error is not None and "503" in row.last_error
    assert service.job.archive_recording(RE).state == "verified"


def test_storage_outage_is_retried_without_duplicates(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService], store: MemoryStorage
) -> None:
    twilio.add(RE, CA)
    store.fail_next_puts = 1
    service = make_service()
    with pytest.raises(ArchiveRetryableError, match="outage"):
        service.job.archive_recording(RE)
    assert store.list_keys() == []
    assert service.job.archive_recording(RE).state == "verified"
    assert store.list_keys() == [KEY]


def test_crash_after_upload_reruns_cleanly_under_the_same_key(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    logging_store: LoggingStore,
) -> None:
    twilio.add(RE, CA)
    service = make_service(store=logging_store)
    logging_store.crash_after_next_put = True
    with pytest.raises(Crash):
        service.job.archive_recording(RE)
    row = service.get(RE)
    assert row is not None and row.state == "downloading"  # the upload was never committed
    assert row.storage_key == KEY  # but its key was, before the upload
    restarted = make_service(store=logging_store)
    assert restarted.job.archive_recording(RE).state == "verified"
    assert media_gets(twilio) == 2  # a fresh download, no partial reuse
    assert logging_store.list_keys() == [KEY]  # and still exactly one object


def test_crash_mid_download_restarts_from_scratch(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService], store: MemoryStorage
) -> None:
    twilio.add(RE, CA)
    crashes = [True]

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(".wav") and crashes:
            crashes.pop()
            raise Crash
        return twilio.handle(request)

    with pytest.raises(Crash):
        make_service(client=twilio.sdk_client(httpx.MockTransport(flaky))).job.archive_recording(RE)
    assert store.list_keys() == []
    assert make_service().job.archive_recording(RE).state == "verified"


def test_read_back_mismatch_starts_over(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    logging_store: LoggingStore,
) -> None:
    twilio.add(RE, CA)
    service = make_service(store=logging_store)
    logging_store.corrupt_next_get = True
    with pytest.raises(ArchiveRetryableError, match="sha256"):
        service.job.archive_recording(RE)
    row = service.get(RE)
    assert row is not None and row.state == "downloading"
    assert service.job.archive_recording(RE).state == "verified"
    assert media_gets(twilio) == 2


class FlippingLocalStorage(LocalStorage):
    """A local folder whose next write lands with its last byte flipped (a bad disk)."""

    flip_next = True

    def put(self, key: str, data: bytes) -> None:
        if self.flip_next:
            self.flip_next = False
            data = data[:-1] + bytes([data[-1] ^ 1])
        super().put(key, data)

    @contextmanager
    def staged(self, key: str) -> Iterator[StagedFile]:
        with super().staged(key) as stage:
            yield stage
            if self.flip_next:  # after every piece was hashed as it arrived
                self.flip_next = False
                with stage.written().open("r+b") as handle:
                    handle.seek(-1, os.SEEK_END)
                    last = handle.read(1)[0]
                    handle.seek(-1, os.SEEK_END)
                    handle.write(bytes([last ^ 1]))


def test_read_back_in_a_local_folder_compares_the_file_in_place_and_starts_over_on_a_mismatch(
    tmp_path: Path, twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA, make_wav(duration_s=20.0))  # several read-back slices
    service = make_service(store=FlippingLocalStorage(tmp_path / "archive"))
    with pytest.raises(ArchiveRetryableError, match="sha256"):
        service.job.archive_recording(RE)
    row = service.get(RE)
    assert row is not None and row.state == "downloading"
    assert service.job.archive_recording(RE).state == "verified"


class CountingKey(ArchiveKey):
    """An archive key that counts the objects it opens."""

    opened = 0

    def open(self, blob: bytes, recording_sid: str) -> bytes:
        self.opened += 1
        return super().open(blob, recording_sid)


def test_read_back_compares_what_it_stored_and_a_resumed_one_decrypts_and_hashes(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    logging_store: LoggingStore,
) -> None:
    wav = make_wav()
    twilio.add(RE, CA, wav)
    key = CountingKey(b"k" * 32)
    service = make_service(store=logging_store, key=key)
    row = service.job.archive_recording(RE)
    # The attempt that stored the object compares the bytes it wrote: no decryption, no hash.
    assert row.state == "verified" and key.opened == 0
    assert ("STORE_GET", len(twilio.requests)) in logging_store.log  # it was read back

    # A job resumed in `stored` (the attempt that wrote it died) has no bytes of its own: it
    # decrypts the stored copy and checks the plaintext's hash against the row's.
    twilio.add(RE2 := "RE" + "3" * 32, CA, wav)
    logging_store.crash_on_next_get = True
    with pytest.raises(Crash):
        service.job.archive_recording(RE2)
    stored = service.get(RE2)
    assert stored is not None and stored.state == "stored"
    assert service.job.archive_recording(RE2).state == "verified"
    assert key.opened == 1


def test_deletes_from_twilio_only_after_the_copy_is_verified(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    logging_store: LoggingStore,
) -> None:
    twilio.add(RE, CA)
    service = make_service(store=logging_store, delete_from_twilio=True)
    row = service.job.archive_recording(RE)
    assert row.state == "deleted_from_twilio"
    assert row.deleted_from_twilio_at is not None
    methods = [entry.method for entry in twilio.requests]
    delete_at = methods.index("DELETE")  # requests answered before Twilio's delete
    marks = dict(logging_store.log)
    assert marks["STORE_PUT"] <= marks["STORE_GET"] <= delete_at
    assert twilio.deleted(RE)
    assert logging_store.exists(KEY)


def test_failed_twilio_delete_is_retried_and_404_counts_as_done(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)
    twilio.fail_next("delete", 500)
    service = make_service(delete_from_twilio=True)
    with pytest.raises(ArchiveRetryableError, match="delete"):
        service.job.archive_recording(RE)
    row = service.get(RE)
    assert row is not None and row.state == "verified"  # the archive copy is safe already
    twilio.vanish(RE)  # e.g. someone deleted it in the console meanwhile
    assert service.job.archive_recording(RE).state == "deleted_from_twilio"
    assert media_gets(twilio) == 1


def test_attempts_are_capped_then_failed_is_sticky_until_retried(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)
    twilio.fail_next("media", 500, times=3)
    service = make_service(max_attempts=3)
    for _ in range(2):
        with pytest.raises(ArchiveRetryableError):
            service.job.archive_recording(RE)
    with pytest.raises(ArchiveFailedError):
        service.job.archive_recording(RE)
    assert service.job.archive_recording(RE).state == "failed"  # a stray duplicate job does nothing
    assert media_gets(twilio) == 3
    assert service.job.archive_recording(RE, retry_failed=True).state == "verified"


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        (lambda t: t.add(RE, CA, make_wav(channels=1)), ArchiveFailedError, "1 channel"),
        (lambda t: t.add(RE, CA, duration_s=10), ArchiveRetryableError, "Twilio reports 10 s"),
        (lambda t: t.add(RE, CA, b"<html>x</html>", 1), ArchiveRetryableError, "not a readable"),
        (lambda t: t.add(RE, CA, status="processing"), ArchiveRetryableError, "processing"),
        (lambda t: t.add(RE, CA, status="absent"), ArchiveFailedError, "absent"),
        (lambda t: None, ArchiveFailedError, "not found on Twilio"),
    ],
)
def test_bad_media_and_states_are_classified(
    twilio: SimRecordings,
    make_service: Callable[..., ArchiveService],
    store: MemoryStorage,
    setup: Callable[[SimRecordings], object],
    error: type[Exception],
    message: str,
) -> None:
    setup(twilio)
    with pytest.raises(error, match=message):
        make_service().job.archive_recording(RE)
    assert store.list_keys() == []


def test_wrong_credentials_fail_visibly_instead_of_looping(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)
    client = twilio.sdk_client()
    client.password = "wrong"
    service = make_service(client=client)
    media_url = f"https://api.twilio.com/2010-04-01/Accounts/{twilio.account_sid}/Recordings/{RE}"
    service.job.note_completed(RE, CA, media_url, 2, duration_s=2)
    with pytest.raises(ArchiveFailedError, match="401"):
        service.job.archive_recording(RE)
    row = service.get(RE)
    assert row is not None and row.state == "failed" and "401" in (row.last_error or "")


def test_encrypted_archive_round_trips_through_read_media(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService], store: MemoryStorage
) -> None:
    wav = make_wav()
    twilio.add(RE, CA, wav)
    key = ArchiveKey(b"k" * 32)
    service = make_service(key=key)
    row = service.job.archive_recording(RE)
    assert row.storage_key == KEY + ".enc"
    assert row.encrypted and row.key_id == key.key_id
    stored = store.get(KEY + ".enc")
    assert stored != wav and b"RIFF" not in stored[:64]
    assert row.sha256 == hashlib.sha256(wav).hexdigest()
    assert service.reader.read_media(RE) == wav


def test_context_sets_queue_agent_labels_and_per_queue_retention(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    from flexrec.archive.retention import RetentionPolicy

    twilio.add(RE, CA)
    context = RecordingContext(
        task_sids=("WT" + "3" * 32,),
        queue_name="Sales",
        direction="inbound",
        worker_sid="WK" + "4" * 32,
        agent_identity="alice",
        channel_labels=("customer", "others"),
    )
    service = make_service(
        context_provider=lambda sid, call: context if call == CA else None,
        retention=RetentionPolicy(365, {"Sales": 90}),
    )
    row = service.job.archive_recording(RE)
    assert row.task_sids == ["WT" + "3" * 32]
    assert (row.queue_name, row.direction, row.worker_sid) == ("Sales", "inbound", "WK" + "4" * 32)
    assert row.channel_labels == ["customer", "others"]
    assert row.retain_until is not None
    assert row.retain_until.replace(tzinfo=UTC) == datetime(2026, 6, 2, 10, 0, tzinfo=UTC)


def test_network_errors_talking_to_twilio_are_retryable(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)
    # The service's own transport against a port nobody listens on (urllib3's errors, not
    # OSErrors, once escaped the job and left the row stuck; http.client's refusal is one).
    unreachable = Client(
        twilio.account_sid,
        twilio.auth_token,
        http_client=PooledHttpClient("http://127.0.0.1:9", timeout=2),
    )
    down = make_service(delete_from_twilio=True, client=unreachable)
    with pytest.raises(ArchiveRetryableError, match=r"ConnectionRefusedError"):
        down.job.archive_recording(RE)
    row = down.get(RE)
    assert row is not None and row.state == "downloading" and row.attempts == 1
    assert "Connection" in (row.last_error or "")
    assert make_service(delete_from_twilio=True).job.archive_recording(RE).state == (
        "deleted_from_twilio"
    )


def test_a_broken_context_provider_does_not_block_archiving(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)

    def broken(_sid: str, _call: str | None) -> RecordingContext:
        raise RuntimeError("database hiccup")

    row = make_service(context_provider=broken).job.archive_recording(RE)
    assert row.state == "verified" and row.queue_name is None


def test_a_worker_overtaken_by_another_stops_without_writing_an_older_state(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService], store: MemoryStorage
) -> None:
    twilio.add(RE, CA)
    other = make_service(delete_from_twilio=True)
    overtaken = [False]

    def slow_download(request: httpx.Request) -> httpx.Response:
        # While this worker downloads, a duplicate job runs to the end.
        if not overtaken[0] and request.url.path.endswith(".wav"):
            overtaken[0] = True
            assert other.job.archive_recording(RE).state == "deleted_from_twilio"
            return httpx.Response(503)  # and our own download then fails
        return twilio.handle(request)

    slow = make_service(
        delete_from_twilio=True, client=twilio.sdk_client(httpx.MockTransport(slow_download))
    )
    row = slow.job.archive_recording(RE)  # neither raises nor marks anything failed
    assert row.state == "deleted_from_twilio" and row.last_error is None
    assert store.list_keys() == [KEY]


def test_stale_state_write_is_refused_after_another_worker_verified(
    twilio: SimRecordings, make_service: Callable[..., ArchiveService], store: MemoryStorage
) -> None:
    twilio.add(RE, CA)
    other = make_service()
    done = [False]

    def racing(request: httpx.Request) -> httpx.Response:
        response = twilio.handle(request)
        if not done[0] and request.url.host.startswith("media."):
            done[0] = True
            other.job.archive_recording(RE)  # finishes first, then our download completes
        return response

    service = make_service(client=twilio.sdk_client(httpx.MockTransport(racing)))
    row = service.job.archive_recording(RE)
    assert row.state == "verified"  # the overtaken worker did not write "stored" back
    fresh = service.get(RE)
    assert fresh is not None and fresh.state == "verified"
    assert store.list_keys() == [KEY]


def test_the_completion_note_is_one_statement_that_keeps_what_the_row_has(
    make_service: Callable[..., ArchiveService], sessions: sessionmaker[Session]
) -> None:
    """It runs inside the recording-status webhook of every recording: one prepared statement
    (flexrec.db.prepared: SQLAlchemy's execution cost more than the insert), which creates the
    row or fills only what it lacks (a redelivered or late callback changes no fact noted)."""
    service = make_service()
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append("sqlalchemy:" + statement.split(None, 1)[0].upper())

    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        with watch(lambda statement: seen.append(statement.split(None, 1)[0].upper())):
            first = service.job.note_completed(RE, CA, None, 2)
            assert seen == ["INSERT"]
            again = service.job.note_completed(
                RE, "CA" + "9" * 32, "https://x/" + RE, 1, duration_s=7
            )
            assert seen == ["INSERT", "INSERT"]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (first.state, first.attempts, first.task_sids) == ("downloading", 0, [])
    assert again.id == first.id
    assert (again.call_sid, again.channels) == (CA, 2)  # kept
    assert (again.media_url, again.twilio_duration_s) == ("https://x/" + RE, 7)  # filled
    assert service.job.unfinished(timedelta(0)) == [RE]


class NoPutLocalStorage(LocalStorage):
    """A local folder that refuses whole-object writes: what is stored must stream in."""

    def put(self, key: str, data: bytes) -> None:
        raise AssertionError(f"{key} was put whole ({len(data)} bytes)")


def test_a_plain_recording_streams_into_its_file_in_a_local_folder(
    tmp_path: Path, twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    wav = make_wav(duration_s=20.0)  # several slices
    twilio.add(RE, CA, wav)
    store = NoPutLocalStorage(tmp_path / "archive")
    row = make_service(store=store).job.archive_recording(RE)
    assert row.state == "verified"
    assert (tmp_path / "archive" / KEY).read_bytes() == wav
    assert row.sha256 == hashlib.sha256(wav).hexdigest() and row.size_bytes == len(wav)
    assert store.list_keys() == [KEY] and media_gets(twilio) == 1


class CutOnce(SdkGateway):
    """The SDK gateway whose first media download breaks off half way (after handing the first
    half over), or, with `wrong`, hands over media that fails the check."""

    def __init__(self, client: Client, account_sid: str, *, wrong: bytes | None = None) -> None:
        super().__init__(client, account_sid, workspace_sid="")
        self.wrong = wrong
        self.cuts = 0

    def download_media_into(self, media_url: str, channels: int, sink: Any) -> int:
        if self.wrong is not None:
            sink(memoryview(self.wrong))
            return len(self.wrong)
        if self.cuts:
            return super().download_media_into(media_url, channels, sink)
        self.cuts += 1
        body = self.download_media(media_url, channels)
        sink(memoryview(body)[: len(body) // 2])
        raise GatewayError("IncompleteRead: the connection closed", status=None)


def test_a_download_cut_short_leaves_nothing_stored_and_is_retried(
    tmp_path: Path, twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    wav = make_wav(duration_s=4.0)
    twilio.add(RE, CA, wav)
    folder = tmp_path / "archive"
    gateway = CutOnce(twilio.sdk_client(), twilio.account_sid)
    service = make_service(store=LocalStorage(folder), client=gateway)
    with pytest.raises(ArchiveRetryableError, match="IncompleteRead"):
        service.job.archive_recording(RE)
    assert [p for p in folder.rglob("*") if p.is_file()] == []  # no half file, stored or staged
    row = service.get(RE)
    assert row is not None and (row.state, row.attempts) == ("downloading", 1)
    assert service.job.archive_recording(RE).state == "verified"
    assert (folder / KEY).read_bytes() == wav


def test_media_that_fails_its_check_while_streaming_is_never_stored(
    tmp_path: Path, twilio: SimRecordings, make_service: Callable[..., ArchiveService]
) -> None:
    twilio.add(RE, CA)
    folder = tmp_path / "archive"
    mono = make_wav(duration_s=2.0, channels=1)  # Twilio said two channels
    service = make_service(
        store=LocalStorage(folder),
        client=CutOnce(twilio.sdk_client(), twilio.account_sid, wrong=mono),
    )
    with pytest.raises(ArchiveFailedError, match="1 channel"):
        service.job.archive_recording(RE)
    assert [p for p in folder.rglob("*") if p.is_file()] == []
