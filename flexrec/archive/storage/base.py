"""The archive store's contract: the `BlobStore` protocol, its keys, errors and object locks.

Every back end makes a write all-or-nothing: a reader sees either no object or the whole
object under its final key, never a half-written one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")


class StorageError(Exception):
    """A back end failed in a way that may pass (network, disk full): retry later."""


class BlobNotFound(StorageError):
    """No object exists under the requested key."""


class InvalidKey(ValueError):
    """A key that could escape the store's root or is otherwise malformed."""


LockMode = Literal["COMPLIANCE", "GOVERNANCE"]


class NotWormError(ValueError):
    """The archive store cannot lock objects, but the policy asks for WORM."""


class ObjectLockedError(StorageError):
    """The storage refused to delete or shorten a locked version (final until its date)."""

    def __init__(self, key: str, version_id: str, detail: str = "") -> None:
        super().__init__(
            f"the storage refused to delete {key} version {version_id}: it is locked"
            + (f" ({detail})" if detail else "")
        )
        self.key = key
        self.version_id = version_id


@dataclass(frozen=True)
class ObjectLock:
    """A retention lock on one object version."""

    mode: LockMode
    retain_until: datetime


@dataclass(frozen=True)
class LockState:
    """What the storage says of one object version now."""

    version_id: str
    exists: bool
    mode: LockMode | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False
    # True when this version is not the newest under its key (a newer version or a delete
    # marker sits on top: for a reader of the key, the sealed object was replaced or deleted).
    superseded: bool = False
    delete_marker_on_top: bool = False

    def locked_at(self, now: datetime) -> bool:
        """True when the storage refuses deletion at `now` (retention or legal hold)."""
        return self.legal_hold or (self.retain_until is not None and self.retain_until > now)


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative key (no `..`, no leading slash)."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise InvalidKey(f"invalid storage key: {key!r}")
    return key


@runtime_checkable
class BlobStore(Protocol):
    """A flat key → bytes store; keys are relative, slash-separated paths."""

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically, replacing any previous object."""

    def get(self, key: str) -> bytes:
        """The whole object under `key`; raises `BlobNotFound`."""

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes `start..end` (inclusive) of the object; raises `BlobNotFound`."""

    def size(self, key: str) -> int:
        """The object's size in bytes; raises `BlobNotFound`."""

    def exists(self, key: str) -> bool:
        """True when an object is stored under `key`."""

    def delete(self, key: str) -> None:
        """Remove the object under `key`; deleting a missing key is not an error."""

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key starting with `prefix`, sorted."""

    def describe(self) -> str:
        """A URL naming the store (no credentials), for logs and status pages."""
