"""Write once, read many: S3 Object Lock as flexrec uses it, and an in-memory store that obeys it.

What the storage itself enforces, whatever flexrec's database says:
- every object version written with a lock (`ObjectLock`) cannot be deleted or shortened
  before its retain-until date: COMPLIANCE by nobody, GOVERNANCE only by a caller allowed to
  bypass it (flexrec does so only for an erasure request, where the policy rule allows);
- a version under legal hold cannot be deleted at all until the hold is cleared.

flexrec always deletes by version ID (a plain DELETE on a versioned bucket only hides the
object under a delete marker), and treats a delete marker on top of a sealed version as a
deletion. Object Lock never deletes by itself: the retention sweep deletes expired versions.

Only a versioned bucket created with Object Lock enabled is WORM. A local folder is not, and
says so: read-only files are not a control (their owner can change them back).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from flexrec.archive.storage import (
    BlobNotFound,
    LockMode,
    LockState,
    MemoryStorage,
    NotWormError,
    ObjectLock,
    ObjectLockedError,
    check_key,
)

__all__ = [
    "LockMode",
    "LockState",
    "MemoryWormStorage",
    "NotWormError",
    "ObjectLock",
    "ObjectLockedError",
    "VersionedStore",
    "require_worm",
    "versioned",
]


@runtime_checkable
class VersionedStore(Protocol):
    """A store with object versions and Object Lock (S3 with Object Lock, or its fake)."""

    def check_worm(self) -> str:
        """One line saying how the store is WORM; raises `NotWormError` saying why not."""

    def put_version(
        self, key: str, data: bytes, lock: ObjectLock | None, legal_hold: bool = False
    ) -> str | None:
        """Write a new version (locked as asked); returns its version ID (None: unversioned)."""

    def get_version(self, key: str, version_id: str) -> bytes:
        """The bytes of one version; raises `BlobNotFound`."""

    def get_version_range(self, key: str, version_id: str, start: int, end: int) -> bytes:
        """Bytes `start..end` (inclusive) of one version; raises `BlobNotFound`."""

    def version_size(self, key: str, version_id: str) -> int:
        """The size of one version; raises `BlobNotFound`."""

    def lock_state(self, key: str, version_id: str) -> LockState:
        """Lock, legal hold and position of one version."""

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        """Set or clear the storage's legal hold on one version."""

    def delete_version(self, key: str, version_id: str, *, bypass_governance: bool = False) -> None:
        """Delete one version for good; raises `ObjectLockedError` when the storage refuses."""

    def version_ids(self, key: str) -> list[str]:
        """Every version and delete marker stored under `key`, newest first."""


def versioned(store: object) -> VersionedStore | None:
    """The store's versioned side, or None for stores without versions (local folder)."""
    return store if isinstance(store, VersionedStore) else None


def require_worm(store: object, reason: str) -> str:
    """Check that the store is WORM; raises `NotWormError` naming `reason` (the policy's ask)."""
    side = versioned(store)
    if side is None:
        describe = getattr(store, "describe", lambda: "this store")()
        raise NotWormError(
            f"{reason}, but the archive at {describe} is not WORM: a local folder cannot keep "
            "anyone from changing or deleting a file (read-only files are not a control). "
            "Use an S3 bucket created with Object Lock enabled (FLEXREC_ARCHIVE_URL=s3://...)"
        )
    return side.check_worm()


@dataclass
class _Version:
    version_id: str
    data: bytes | None  # None: a delete marker
    lock: ObjectLock | None = None
    legal_hold: bool = False


class MemoryWormStorage(MemoryStorage):
    """An in-memory versioned store that enforces Object Lock like S3 does (unit tests)."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.clock = clock
        self._versions: dict[str, list[_Version]] = {}
        self._counter = 0
        self._vlock = threading.Lock()

    def _now(self) -> datetime:
        return self.clock() if self.clock is not None else datetime.now(UTC)

    def check_worm(self) -> str:
        """Always WORM (it is the fake of a locked bucket)."""
        return "memory://: versioned, Object Lock enforced (test fake)"

    def put(self, key: str, data: bytes) -> None:
        """A plain PUT: a new unlocked version on top."""
        self.put_version(key, data, None)

    def put_version(
        self, key: str, data: bytes, lock: ObjectLock | None, legal_hold: bool = False
    ) -> str:
        """A new version on top, locked as asked."""
        MemoryStorage.put(self, key, data)
        with self._vlock:
            self._counter += 1
            version = _Version(f"v{self._counter:06d}", bytes(data), lock, legal_hold)
            self._versions.setdefault(key, []).insert(0, version)
            return version.version_id

    def _find(self, key: str, version_id: str) -> _Version:
        for version in self._versions.get(check_key(key), []):
            if version.version_id == version_id:
                return version
        raise BlobNotFound(f"{key}?versionId={version_id}")

    def get_version(self, key: str, version_id: str) -> bytes:
        """The bytes of one version."""
        with self._vlock:
            version = self._find(key, version_id)
            if version.data is None:
                raise BlobNotFound(key)
            return version.data

    def get_version_range(self, key: str, version_id: str, start: int, end: int) -> bytes:
        """A slice of one version."""
        return self.get_version(key, version_id)[start : end + 1]

    def version_size(self, key: str, version_id: str) -> int:
        """The length of one version."""
        return len(self.get_version(key, version_id))

    def tamper(self, key: str, version_id: str, data: bytes) -> None:
        """Change a stored version in place (what only an attack on the storage could do)."""
        with self._vlock:
            self._find(key, version_id).data = data
            self.objects[key] = data

    def lock_state(self, key: str, version_id: str) -> LockState:
        """Lock and position of one version."""
        with self._vlock:
            versions = self._versions.get(check_key(key), [])
            try:
                version = self._find(key, version_id)
            except BlobNotFound:
                return LockState(version_id, exists=False)
            top = versions[0]
            return LockState(
                version_id,
                exists=True,
                mode=version.lock.mode if version.lock else None,
                retain_until=version.lock.retain_until if version.lock else None,
                legal_hold=version.legal_hold,
                superseded=top is not version,
                delete_marker_on_top=top.data is None,
            )

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        """Set or clear one version's legal hold."""
        with self._vlock:
            self._find(key, version_id).legal_hold = on

    def delete(self, key: str) -> None:
        """A plain DELETE: a delete marker on top (nothing is removed)."""
        with self._vlock:
            self._counter += 1
            self._versions.setdefault(check_key(key), []).insert(
                0, _Version(f"dm{self._counter:06d}", None)
            )
            self.objects.pop(key, None)

    def delete_version(self, key: str, version_id: str, *, bypass_governance: bool = False) -> None:
        """Remove one version, unless its lock or legal hold forbids it now."""
        with self._vlock:
            try:
                version = self._find(key, version_id)
            except BlobNotFound:
                return
            lock = version.lock
            now = self._now()
            if version.legal_hold:
                raise ObjectLockedError(key, version_id, "legal hold")
            if lock is not None and lock.retain_until > now:
                if lock.mode == "COMPLIANCE" or not bypass_governance:
                    raise ObjectLockedError(
                        key, version_id, f"{lock.mode} until {lock.retain_until.isoformat()}"
                    )
            versions = self._versions[key]
            versions.remove(version)
            live = next((v for v in versions if v.data is not None), None)
            if versions and versions[0].data is not None and live is not None:
                self.objects[key] = live.data or b""
            else:
                self.objects.pop(key, None)

    def versions_of(self, key: str) -> list[bytes]:
        """The data of every version under `key` (delete markers left out), newest first."""
        with self._vlock:
            return [v.data for v in self._versions.get(key, []) if v.data is not None]

    def version_ids(self, key: str) -> list[str]:
        """Versions and delete markers under `key`, newest first."""
        with self._vlock:
            return [v.version_id for v in self._versions.get(check_key(key), [])]
