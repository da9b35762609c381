"""Reading archived media: whole, by size, by byte range; sealed objects decrypted and cached."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from sqlalchemy import select

from flexrec.archive.crypto import OVERHEAD_BYTES, DecryptionError
from flexrec.archive.deps import ArchiveDeps
from flexrec.archive.errors import RecordingNotArchived
from flexrec.archive.models import DONE_STATES, ArchivedRecording, SealedObject
from flexrec.archive.storage import BlobNotFound, LocalStorage
from flexrec.archive.worm import versioned


def sealed_version(deps: ArchiveDeps, recording_sid: str) -> str | None:
    """The version of the recording's audio that was sealed (None: unversioned store)."""
    if versioned(deps.store) is None:
        return None
    with deps.sessions() as session:
        return session.scalar(
            select(SealedObject.version_id).where(
                SealedObject.recording_sid == recording_sid, SealedObject.kind == "audio"
            )
        )


def load_stored(deps: ArchiveDeps, row: ArchivedRecording) -> bytes:
    """The stored object of an archived recording as stored (encrypted if it is).

    On a versioned store, the version that was sealed: a newer version someone wrote on top is
    never played (`flexrec verify` reports it as overwritten).
    """
    assert row.storage_key is not None  # noqa: S101
    side = versioned(deps.store)
    version = sealed_version(deps, row.recording_sid) if side is not None else None
    if side is not None and version is not None:
        return side.get_version(row.storage_key, version)
    return deps.store.get(row.storage_key)


def stored_equals(deps: ArchiveDeps, row: ArchivedRecording, written: bytes) -> bool:
    """Whether the stored object (`load_stored`'s version) is exactly `written`; a local
    folder compares it in place, without a copy of the object."""
    assert row.storage_key is not None  # noqa: S101
    if isinstance(deps.store, LocalStorage):  # never versioned
        return deps.store.matches(row.storage_key, written)
    return load_stored(deps, row) == written


def plain_sha256(deps: ArchiveDeps, row: ArchivedRecording) -> str:
    """SHA-256 (hex) of the stored object's plaintext; a plain file in a local folder is
    hashed in place, a slice at a time, never read into one buffer."""
    assert row.storage_key is not None  # noqa: S101
    if isinstance(deps.store, LocalStorage) and not row.encrypted:  # never versioned
        return deps.store.sha256(row.storage_key)
    return hashlib.sha256(load_plain(deps, row)).hexdigest()


def load_plain(deps: ArchiveDeps, row: ArchivedRecording) -> bytes:
    """The stored object of an archived recording, decrypted (`load_stored`'s version)."""
    blob = load_stored(deps, row)
    if not row.encrypted:
        return blob
    if deps.key is None:
        raise DecryptionError("archive key not configured")
    return deps.key.open(blob, row.recording_sid)


class MediaReader:
    """Serves the archived WAV of a playable recording (archived, not purged)."""

    def __init__(self, deps: ArchiveDeps) -> None:
        self.deps = deps

    def playable(self, recording_sid: str) -> ArchivedRecording:
        """The recording's row if its media can be read; raises `RecordingNotArchived`."""
        return self.playable_row(recording_sid, self.deps.get(recording_sid))

    @staticmethod
    def playable_row(recording_sid: str, row: ArchivedRecording | None) -> ArchivedRecording:
        """`row` (the recording's, as read by the caller) if its media can be read; raises
        `RecordingNotArchived`."""
        if (
            row is None
            or row.state not in DONE_STATES
            or row.purged_at is not None
            or row.storage_key is None
        ):
            raise RecordingNotArchived(recording_sid)
        return row

    def plain_cached(self, row: ArchivedRecording) -> bytes:
        """A sealed recording's plain WAV, kept for the burst of range requests a player makes."""
        cache_key = f"{row.recording_sid}:{row.sha256}"
        cached = self.deps.plain_cache.get(cache_key)
        if cached is not None:
            return cached
        data = load_plain(self.deps, row)
        self.deps.plain_cache.put(cache_key, data)
        return data

    def read_media(self, recording_sid: str) -> bytes:
        """The archived WAV (decrypted); raises `RecordingNotArchived`."""
        return self.media_of(self.playable(recording_sid))

    def media_of(self, row: ArchivedRecording) -> bytes:
        """The archived WAV (decrypted) of a row `playable_row` passed; raises
        `RecordingNotArchived`."""
        try:
            return self.plain_cached(row) if row.encrypted else load_plain(self.deps, row)
        except BlobNotFound as exc:
            raise RecordingNotArchived(row.recording_sid) from exc

    @contextmanager
    def media_view(self, row: ArchivedRecording) -> Iterator[bytes | memoryview]:
        """`media_of(row)` for the length of the block; a plain object in a local folder is
        mapped, not copied (the analysis job's read: no buffer the size of the recording is
        made and freed). The view must not be kept past the block."""
        store = self.deps.store
        with ExitStack() as stack:
            if row.encrypted or not isinstance(store, LocalStorage):
                yield self.media_of(row)
                return
            assert row.storage_key is not None  # noqa: S101 - checked by playable_row
            try:
                view = stack.enter_context(store.mapped(row.storage_key))
            except BlobNotFound as exc:
                raise RecordingNotArchived(row.recording_sid) from exc
            yield view

    def media_size(self, recording_sid: str) -> int:
        """Size in bytes of the (decrypted) WAV, without reading it."""
        row = self.playable(recording_sid)
        assert row.storage_key is not None  # noqa: S101 - checked by playable
        side = versioned(self.deps.store)
        version = sealed_version(self.deps, recording_sid) if side is not None else None
        try:
            if side is not None and version is not None:
                stored = side.version_size(row.storage_key, version)
            else:
                stored = self.deps.store.size(row.storage_key)
        except BlobNotFound as exc:
            raise RecordingNotArchived(recording_sid) from exc
        return stored - OVERHEAD_BYTES if row.encrypted else stored

    def read_media_range(self, recording_sid: str, start: int, end: int) -> bytes:
        """Bytes `start..end` (inclusive) of the decrypted WAV.

        Plain objects are read partially from storage; sealed ones must be opened whole (GCM
        authenticates the whole object), so recently opened ones are kept in a small cache for
        the burst of range requests a player makes.
        """
        row = self.playable(recording_sid)
        assert row.storage_key is not None  # noqa: S101 - checked by playable
        try:
            if row.encrypted:
                return self.plain_cached(row)[start : end + 1]
            side = versioned(self.deps.store)
            version = sealed_version(self.deps, recording_sid) if side is not None else None
            if side is not None and version is not None:
                return side.get_version_range(row.storage_key, version, start, end)
            return self.deps.store.get_range(row.storage_key, start, end)
        except BlobNotFound as exc:
            raise RecordingNotArchived(recording_sid) from exc
