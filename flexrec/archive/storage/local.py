"""The embedded default archive store: a local folder, each write a rename of a synced file."""

from __future__ import annotations

import hashlib
import mmap
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from flexrec.archive.storage.base import BlobNotFound, StorageError, check_key

_COMPARE_BYTES = 1 << 18  # read-back slices: small enough to be reused, big enough to be cheap


class LocalStorage:
    """Objects as files under `root`; writes go to a temp file, fsync, then rename.

    Not WORM: whoever can write the folder can change or delete any file (read-only files are
    not a control), so a policy that asks for WORM is refused on it (flexrec.archive.worm).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old object or the new one, never a partial file."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Temp names start with "." so list_keys never reports an in-flight write.
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=".part", dir=path.parent
            )
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            _fsync_dir(path.parent)
        except OSError as exc:
            raise StorageError(f"local write failed for {key}: {exc.strerror or exc}") from exc

    @contextmanager
    def staged(self, key: str) -> Iterator[StagedFile]:
        """A file the caller writes piece by piece (a download as it arrives), stored under
        `key` as `put` stores: synced, then renamed into place when the block ends, so readers
        see the old object or the new one. If the block raises, the half-written file is
        removed: it is never stored. Nothing the size of the object is held in memory."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Temp names start with "." so list_keys never reports an in-flight write.
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=".part", dir=path.parent
            )
        except OSError as exc:
            raise StorageError(f"local write failed for {key}: {exc.strerror or exc}") from exc
        storing = False  # past the caller's block: an OSError is then this store's
        try:
            with os.fdopen(fd, "wb") as handle:
                yield StagedFile(key, Path(tmp_name), handle)
                storing = True
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
            _fsync_dir(path.parent)
        except BaseException as exc:
            Path(tmp_name).unlink(missing_ok=True)
            if storing and isinstance(exc, OSError):
                raise StorageError(f"local write failed for {key}: {exc.strerror or exc}") from exc
            raise

    def sha256(self, key: str) -> str:
        """The file's SHA-256 (hex), read a slice at a time into one small buffer."""
        digest = hashlib.sha256()
        chunk = bytearray(_COMPARE_BYTES)
        view = memoryview(chunk)
        try:
            with self._path(key).open("rb", buffering=0) as handle:
                while n := handle.readinto(chunk):
                    digest.update(view[:n])
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"local read failed for {key}: {exc.strerror or exc}") from exc
        return digest.hexdigest()

    def get(self, key: str) -> bytes:
        """Read the whole file."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"local read failed for {key}: {exc.strerror or exc}") from exc

    @contextmanager
    def mapped(self, key: str) -> Iterator[memoryview]:
        """The whole file, mapped read-only for the block: no copy, and no buffer the size of
        the recording made and freed (a job thread's freed recordings are what fragments the
        allocator's arenas).

        Safe here because a stored file is only ever replaced by a rename or unlinked, never
        truncated in place: a mapping keeps the file it opened. Whoever reads the view must not
        keep it (or an array over it) past the block.
        """
        try:
            with self._path(key).open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"local read failed for {key}: {exc.strerror or exc}") from exc
        if mapping is None:  # an empty file cannot be mapped
            yield memoryview(b"")
            return
        view = memoryview(mapping)
        try:
            yield view
        finally:
            try:
                view.release()
                mapping.close()
            except BufferError:  # a reader kept an array over it: unmapped once that goes
                pass

    def matches(self, key: str, data: bytes) -> bool:
        """Whether the file holds exactly `data`, read a slice at a time into one small buffer:
        the archive's read-back proves the copy without a second buffer the size of the
        recording (made and freed on a job thread, it fragments the allocator's arenas)."""
        chunk = bytearray(_COMPARE_BYTES)
        expected = memoryview(data)
        at = 0
        try:
            with self._path(key).open("rb", buffering=0) as handle:
                while n := handle.readinto(chunk):
                    # bytearray == memoryview compares with memcmp (memoryview == does not).
                    if (chunk if n == len(chunk) else chunk[:n]) != expected[at : at + n]:
                        return False
                    at += n
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"local read failed for {key}: {exc.strerror or exc}") from exc
        return at == len(data)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Read only the requested bytes of the file."""
        try:
            with self._path(key).open("rb") as handle:
                handle.seek(start)
                return handle.read(max(0, end - start + 1))
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"local read failed for {key}: {exc.strerror or exc}") from exc

    def size(self, key: str) -> int:
        """The file's size."""
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"local stat failed for {key}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        """True when the file exists."""
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the file (and fsync its folder so the removal survives a crash)."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
            if path.parent.is_dir():
                _fsync_dir(path.parent)
        except OSError as exc:
            raise StorageError(f"local delete failed for {key}: {exc.strerror or exc}") from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every stored file's key under the root, temp files excluded."""
        if not self.root.is_dir():
            return []
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def describe(self) -> str:
        """The root as a file:// URL."""
        return self.root.as_uri()


class StagedFile:
    """A file being written for `LocalStorage.staged`: pieces are appended as they come."""

    def __init__(self, key: str, path: Path, handle: BinaryIO) -> None:
        self.key = key
        self.path = path
        self.size = 0
        self._handle = handle

    def write(self, piece: memoryview | bytes) -> None:
        """Append `piece`; a failed write raises `StorageError` (retry later)."""
        try:
            self._handle.write(piece)
        except OSError as exc:
            raise StorageError(f"local write failed for {self.key}: {exc.strerror or exc}") from exc
        self.size += len(piece)

    def written(self) -> Path:
        """The file so far, flushed so that another reader of `path` sees all of it."""
        try:
            self._handle.flush()
        except OSError as exc:
            raise StorageError(f"local write failed for {self.key}: {exc.strerror or exc}") from exc
        return self.path


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once the directory entry itself is flushed.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
