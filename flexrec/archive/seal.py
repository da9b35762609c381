"""Sealing: what the archive job writes about each object it stores, and the redaction seam.

The pipeline of one recording (flexrec.archive.job):

    download -> verify WAV -> [redact: one call, optional] -> encrypt -> store (with its
    Object Lock) -> seal (manifest row + `sealed` audit row, one transaction) -> read back
    -> delete Twilio's copy

The redaction stage (built by the card-data work) is one call, `Redactor(recording_sid,
wav) -> (audio to keep, RedactionReport | None)`; the manifest keeps the report with the hash
of the audio the copy was made from. Unredacted audio never reaches the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording, AuditLog, SealedObject
from flexrec.archive.storage import ObjectLock

SYSTEM = "system"


@dataclass(frozen=True)
class RedactionReport:
    """What a redaction stage removed from a recording before it was sealed."""

    source_sha256: str  # of the audio the redacted copy was made from
    # [start_ms, end_ms] spans silenced (both channels), from the recording's start
    spans_ms: tuple[tuple[int, int], ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """JSON-ready form stored in the manifest row."""
        return {
            "source_sha256": self.source_sha256,
            "spans_ms": [list(span) for span in self.spans_ms],
            **dict(self.detail),
        }


Redactor = Callable[[str, bytes], tuple[bytes, RedactionReport | None]]
"""(recording SID, WAV as downloaded) -> (WAV to keep, report or None when nothing removed)."""


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SealFacts:
    """Everything a manifest row records about one stored object version."""

    kind: str
    storage_key: str
    version_id: str | None
    stored: bytes
    plain: bytes
    lock: ObjectLock | None
    legal_obligation: bool
    legal_hold: bool
    key_id: str | None
    redaction: RedactionReport | None = None


def seal(session: Session, row: ArchivedRecording, facts: SealFacts, now: datetime) -> SealedObject:
    """Write (or replace, on a re-store) the manifest row and its `sealed` audit row.

    The caller commits both with the row's state change, so a stored object is either sealed
    with its state or neither.
    """
    manifest = session.scalars(
        select(SealedObject).where(
            SealedObject.recording_sid == row.recording_sid, SealedObject.kind == facts.kind
        )
    ).one_or_none()
    if manifest is None:
        manifest = SealedObject(recording_sid=row.recording_sid, kind=facts.kind)
        session.add(manifest)
    manifest.call_sid = row.call_sid
    manifest.storage_key = facts.storage_key
    manifest.version_id = facts.version_id
    manifest.stored_sha256 = sha256_hex(facts.stored)
    manifest.size_bytes = len(facts.stored)
    manifest.plain_sha256 = sha256_hex(facts.plain)
    manifest.plain_size_bytes = len(facts.plain)
    manifest.encrypted = facts.key_id is not None
    manifest.key_id = facts.key_id
    manifest.duration_ms = row.duration_ms
    manifest.channels = row.channels
    manifest.source_sha256 = facts.redaction.source_sha256 if facts.redaction else None
    manifest.redaction = facts.redaction.public() if facts.redaction else None
    manifest.lock_mode = facts.lock.mode if facts.lock else None
    manifest.retain_until = facts.lock.retain_until if facts.lock else row.retain_until
    manifest.legal_obligation = facts.legal_obligation
    manifest.object_legal_hold = facts.legal_hold
    manifest.sealed_at = now
    manifest.removed_at = None
    manifest.removed_reason = None
    session.add(AuditLog(at=now, actor=SYSTEM, action="sealed", recording_sid=row.recording_sid,
                         detail=sealed_detail(manifest)))  # fmt: skip
    return manifest


SEALED_FIELDS = (
    "kind",
    "call_sid",
    "storage_key",
    "version_id",
    "stored_sha256",
    "size_bytes",
    "plain_sha256",
    "plain_size_bytes",
    "duration_ms",
    "channels",
    "source_sha256",
    "lock_mode",
    "legal_obligation",
)
"""The manifest fields the `sealed` audit row repeats (and `verify` compares)."""


def sealed_detail(manifest: SealedObject) -> dict[str, Any]:
    """The `sealed` audit row's detail: the manifest's fields, so the chain vouches for them."""
    detail: dict[str, Any] = {name: getattr(manifest, name) for name in SEALED_FIELDS}
    detail["retain_until"] = (
        manifest.retain_until.isoformat() if manifest.retain_until is not None else None
    )
    if manifest.redaction is not None:
        detail["redaction"] = manifest.redaction
    return detail
