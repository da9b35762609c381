"""Where archived media lives: one `BlobStore` protocol (`base`), and its back ends: a local
folder (`local`), an S3 bucket with Object Lock (`s3`), and memory (`memory`, for tests).

`open_storage` picks the back end from the archive URL.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from flexrec.archive.storage.base import (
    BlobNotFound,
    BlobStore,
    InvalidKey,
    LockMode,
    LockState,
    NotWormError,
    ObjectLock,
    ObjectLockedError,
    StorageError,
    check_key,
)
from flexrec.archive.storage.local import LocalStorage
from flexrec.archive.storage.memory import MemoryStorage
from flexrec.archive.storage.s3 import S3Storage

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "InvalidKey",
    "LocalStorage",
    "LockMode",
    "LockState",
    "MemoryStorage",
    "NotWormError",
    "ObjectLock",
    "ObjectLockedError",
    "S3Storage",
    "StorageError",
    "check_key",
    "open_storage",
]


def open_storage(url: str, s3_endpoint_url: str = "") -> BlobStore:
    """The back end for an archive URL: `file:///path`, a plain path, or `s3://bucket/prefix`."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("an s3:// archive URL needs a bucket: s3://bucket/prefix")
        return S3Storage(parts.netloc, parts.path.strip("/"), endpoint_url=s3_endpoint_url or None)
    if parts.scheme == "file":
        return LocalStorage(unquote(parts.path))
    if parts.scheme in {"", None}:
        return LocalStorage(url)
    if parts.scheme == "memory":
        return MemoryStorage()
    raise ValueError(f"unsupported archive URL scheme {parts.scheme!r} (use file:// or s3://)")
