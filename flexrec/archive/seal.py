"""Sealing: what the archive job writes about each object it stores, and the redaction seam.

The pipeline of one recording (flexrec.archive.job):

    download -> verify WAV -> [redact: one call, optional] -> encrypt -> store (with its
    Object Lock) -> seal (manifest row + `sealed` audit row, one transaction) -> read back
    -> delete Twilio's copy

The redaction stage (flexrec.archive.redaction, built by the card-data work) is one call; the
manifest keeps its report with the hash of the audio the copy was made from. Unredacted audio
never reaches the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.models import ArchivedRecording, RecordingAnalysis, SealedObject
from flexrec.archive.redaction import RedactionReport
from flexrec.archive.storage import ObjectLock
from flexrec.archive.worm import require_worm, versioned

if TYPE_CHECKING:
    from flexrec.archive.deps import ArchiveDeps

SYSTEM = "system"


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SealFacts:
    """Everything a manifest row records about one stored object version."""

    kind: str
    storage_key: str
    version_id: str | None
    stored_sha256: str
    stored_size: int
    plain_sha256: str
    plain_size: int
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
    return write_seal(
        session, row, facts, now, find_manifest(session, row.recording_sid, facts.kind)
    )


def find_manifest(session: Session, recording_sid: str, kind: str) -> SealedObject | None:
    """The manifest row of the recording's object of `kind`, if any."""
    return session.scalars(
        select(SealedObject).where(
            SealedObject.recording_sid == recording_sid, SealedObject.kind == kind
        )
    ).one_or_none()


def write_seal(
    session: Session,
    row: ArchivedRecording,
    facts: SealFacts,
    now: datetime,
    manifest: SealedObject | None,
) -> SealedObject:
    """`seal` with the manifest already looked up in `session` (None: there is none yet)."""
    if manifest is None:
        manifest = SealedObject(recording_sid=row.recording_sid, kind=facts.kind)
        session.add(manifest)
    manifest.call_sid = row.call_sid
    manifest.storage_key = facts.storage_key
    manifest.version_id = facts.version_id
    manifest.stored_sha256 = facts.stored_sha256
    manifest.size_bytes = facts.stored_size
    manifest.plain_sha256 = facts.plain_sha256
    manifest.plain_size_bytes = facts.plain_size
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


ANALYSIS_FIELDS = (
    "duration_ms", "customer_talk_ms", "agent_talk_ms", "silence_ms", "cross_talk_ms",
    "interruptions_by_agent", "interruptions_by_customer", "longest_agent_monologue_ms",
    "longest_customer_monologue_ms", "talk_to_listen_ratio", "time_to_first_agent_words_ms",
    "metrics", "segments", "vad_config_version", "state",
)  # fmt: skip
"""What the sealed analysis document holds (the waveform is derived from the audio again)."""


def analysis_document(analysis: RecordingAnalysis) -> dict[str, Any]:
    """The analysis of one recording as the JSON document sealed beside its audio."""
    document: dict[str, Any] = {"recording_sid": analysis.recording_sid}
    document.update({name: getattr(analysis, name) for name in ANALYSIS_FIELDS})
    return document


DOCUMENT_FOLDERS = {"analysis": "analyses", "transcript": "transcripts"}
"""Top folder of each kind of document in the store (audio is under `recordings/`)."""


def document_body(document: Mapping[str, Any]) -> bytes:
    """A document as it is stored: canonical JSON (sorted keys, no spaces) and a newline."""
    return (json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n").encode()


def seal_document(
    deps: ArchiveDeps, recording_sid: str, kind: str, document: Mapping[str, Any]
) -> SealedObject | None:
    """Store a JSON document of the recording (its analysis, a transcript) like its audio:
    encrypted when the audio is, under the same lock, sealed in the manifest and the chain.

    Idempotent: the same document is not stored twice. None when the recording's media is gone.
    """
    body = document_body(document)
    try:
        return _seal_document_once(deps, recording_sid, kind, body)
    except IntegrityError:
        # Another job sealed this document between our look and our commit (two analyse
        # jobs of one recording, seen in the soak): the next look finds its manifest, and
        # returns it when the document is the same, or replaces it as any re-store does.
        return _seal_document_once(deps, recording_sid, kind, body)


def _seal_document_once(
    deps: ArchiveDeps, recording_sid: str, kind: str, body: bytes
) -> SealedObject | None:
    with deps.sessions() as session:
        row = sealable_row(deps, session, recording_sid)
        if row is None:
            return None
        manifest = store_document(deps, session, row, kind, body)
        session.commit()
        return manifest


def sealable_row(
    deps: ArchiveDeps, session: Session, recording_sid: str
) -> ArchivedRecording | None:
    """The recording's archive row in `session` while documents may be sealed beside its
    audio (stored and not purged), else None."""
    row = deps.find(session, recording_sid)
    if row is None or row.purged_at is not None or row.storage_key is None:
        return None
    return row


def store_document(
    deps: ArchiveDeps, session: Session, row: ArchivedRecording, kind: str, body: bytes
) -> SealedObject:
    """Store a document's `body` beside the row's audio and seal it in `session`, which the
    caller commits (with whatever else belongs to the same change); the same body already
    sealed is returned as it is, stored once."""
    assert row.storage_key is not None  # noqa: S101 - `sealable_row` checked it
    recording_sid = row.recording_sid
    plain_sha256 = sha256_hex(body)
    existing = find_manifest(session, recording_sid, kind)
    if existing is not None and existing.plain_sha256 == plain_sha256:
        return existing
    key = deps.key if row.encrypted else None
    payload = key.seal(body, recording_sid) if key else body
    folder = row.storage_key.split("/", 1)[1].rsplit("/", 1)[0]  # YYYY/MM/DD of the audio
    prefix = DOCUMENT_FOLDERS.get(kind, kind)
    storage_key = f"{prefix}/{folder}/{recording_sid}.json" + (".enc" if key else "")
    now = deps.clock()
    rule = deps.retention.rule_for(row.queue_name)
    lock = deps.retention.lock_for(row.queue_name, row.retain_until)
    if lock is not None and lock.retain_until <= now:
        lock = None
    side = versioned(deps.store)
    if side is not None:
        version_id = side.put_version(storage_key, payload, lock, legal_hold=row.legal_hold)
    else:
        if lock is not None:
            require_worm(deps.store, f"the retention policy locks {storage_key}")
        deps.store.put(storage_key, payload)
        version_id = None
    facts = SealFacts(
        kind=kind,
        storage_key=storage_key,
        version_id=version_id,
        stored_sha256=sha256_hex(payload) if key else plain_sha256,
        stored_size=len(payload),
        plain_sha256=plain_sha256,
        plain_size=len(body),
        lock=lock,
        legal_obligation=rule.legal_obligation,
        legal_hold=bool(row.legal_hold),
        key_id=key.key_id if key else None,
    )
    return write_seal(session, row, facts, now, existing)
