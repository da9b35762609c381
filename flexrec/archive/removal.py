"""Deleting a recording's stored objects for good: every version, by version ID.

On a versioned store a plain DELETE only puts a delete marker on top and the data stays, so
flexrec lists every version (and delete marker) under each key and deletes each by its ID. The
storage may refuse (Object Lock retention or legal hold): that is final until the lock's date,
so the refusal is returned (with the date the storage gives) for the caller to report and audit,
never retried in a loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording, SealedObject
from flexrec.archive.storage import BlobStore, ObjectLockedError
from flexrec.archive.worm import versioned


@dataclass(frozen=True)
class Refusal:
    """The storage refused to delete one version."""

    storage_key: str
    version_id: str
    retain_until: datetime | None
    legal_hold: bool
    message: str

    def public(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "storage_key": self.storage_key,
            "version_id": self.version_id,
            "retain_until": self.retain_until.isoformat() if self.retain_until else None,
            "legal_hold": self.legal_hold,
        }


def object_keys(session: Session, row: ArchivedRecording) -> list[str]:
    """Every storage key holding an object of this recording (audio and the manifest's)."""
    keys = [row.storage_key] if row.storage_key else []
    for key in session.scalars(
        select(SealedObject.storage_key).where(SealedObject.recording_sid == row.recording_sid)
    ):
        if key not in keys:
            keys.append(key)
    return keys


def delete_objects(
    store: BlobStore, keys: Iterable[str], *, bypass_governance: bool = False
) -> list[Refusal]:
    """Delete every version under each key; returns what the storage refused (empty: all gone).

    Raises `StorageError` for failures that may pass (network): the caller retries later.
    """
    side = versioned(store)
    refusals: list[Refusal] = []
    for key in keys:
        if side is None:
            store.delete(key)
            continue
        for version_id in side.version_ids(key):
            try:
                side.delete_version(key, version_id, bypass_governance=bypass_governance)
            except ObjectLockedError as exc:
                state = side.lock_state(key, version_id)
                refusals.append(
                    Refusal(key, version_id, state.retain_until, state.legal_hold, str(exc))
                )
    return refusals


def mark_removed(session: Session, recording_sid: str, reason: str, now: datetime) -> None:
    """Note on the manifest that the recording's objects were deleted on purpose."""
    for manifest in session.scalars(
        select(SealedObject).where(
            SealedObject.recording_sid == recording_sid, SealedObject.removed_at.is_(None)
        )
    ):
        manifest.removed_at = now
        manifest.removed_reason = reason
