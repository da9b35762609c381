"""Export with chain of custody: what was recorded, what happened to it, signed by the operator.

An export of recordings RE… holds, per recording, the audio as played (`audio.wav`), the
analysis and transcript where present, the sealed manifest and the recording's audit history
(each row with its chain hashes); `SHA256SUMS` lists every file's SHA-256 and is signed with the
operator's Ed25519 key (`SHA256SUMS.sig`, raw 64-byte signature), and, when
`FLEXREC_EXPORT_TSA_URL` names one, dated by an RFC 3161 time-stamp authority
(`SHA256SUMS.tsr`, flexrec.custody.timestamp). A third party checks it with standard tools only
(VERIFY.txt, written into the export):

    openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin \\
        -in SHA256SUMS -sigfile SHA256SUMS.sig
    sha256sum -c SHA256SUMS

`signing-key.pub.pem` is included for convenience; the third party should compare its
fingerprint (in `statement.json`) with the one the operator published.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.archive.audit_chain import CHAIN_VERSION, AuditChainHead, AuditLog
from flexrec.archive.crypto import ArchiveKey
from flexrec.archive.models import ArchivedRecording, RecordingAnalysis, SealedObject
from flexrec.archive.seal import analysis_document
from flexrec.archive.storage import BlobStore
from flexrec.archive.worm import versioned
from flexrec.custody.timestamp import TimestampError, request_timestamp


class ExportError(ValueError):
    """An export cannot be made as asked (no signing key, unknown or erased recording)."""


class ExportUnavailable(ExportError):
    """Something the export depends on is missing or failing (signing key, time-stamp)."""


class SigningKeyError(ExportUnavailable):
    """`FLEXREC_EXPORT_SIGNING_KEY` is missing or not an Ed25519 private key."""


VERIFY_TEXT = """How to check this export without flexrec (OpenSSL 3 and coreutils):

1. The signature: SHA256SUMS was signed with the operator's Ed25519 key.

   openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin \\
       -in SHA256SUMS -sigfile SHA256SUMS.sig

   It prints "Signature Verified Successfully". Compare the key's fingerprint first:
   openssl pkey -pubin -in signing-key.pub.pem -outform DER | sha256sum
   must equal "signing_key_sha256" in statement.json and the fingerprint the operator published.

2. Every file: sha256sum -c SHA256SUMS   (every line must say OK)

3. What each recording is: <RE>/manifest.json has the SHA-256 of the audio as sealed at archive
   time ("plain_sha256": compare with `sha256sum <RE>/audio.wav`), of the stored object, its size,
   duration, channels and Twilio SIDs, and for a redacted copy the hash of its source and the
   spans removed. <RE>/audit.jsonl is the recording's history from the hash-chained audit log
   (format version {chain}: row_hash = SHA-256 of prev_hash followed by the row's canonical JSON).

4. When SHA256SUMS.tsr is present, an RFC 3161 time-stamp authority dated SHA256SUMS:
   openssl ts -verify -data SHA256SUMS -in SHA256SUMS.tsr -CAfile <the TSA's CA certificate>
   openssl ts -reply -in SHA256SUMS.tsr -text     (shows the time and the TSA)
"""


def load_signing_key(value: str) -> Ed25519PrivateKey:
    """`FLEXREC_EXPORT_SIGNING_KEY`: a PEM file path, PEM text, or base64 of the 32-byte seed."""
    value = value.strip()
    if not value:
        raise SigningKeyError(
            "no signing key: set FLEXREC_EXPORT_SIGNING_KEY to an Ed25519 private key file "
            "(openssl genpkey -algorithm ed25519 -out export-signing.pem)"
        )
    text = value
    path = Path(value).expanduser()
    if "BEGIN" not in value and ("/" in value or value.startswith(".")) and path.is_file():
        text = path.read_text(encoding="ascii")
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise SigningKeyError(f"FLEXREC_EXPORT_SIGNING_KEY is not readable: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("FLEXREC_EXPORT_SIGNING_KEY must be an Ed25519 private key")
    return key


def public_pem(key: Ed25519PrivateKey) -> bytes:
    """The public half as a PEM SubjectPublicKeyInfo (what `openssl pkeyutl -pubin` reads)."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_fingerprint(key: Ed25519PrivateKey) -> str:
    """SHA-256 of the public key's DER form (`openssl pkey -pubin -outform DER | sha256sum`)."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


@dataclass
class ExportBundle:
    """The files of one export, by relative path (written to a folder or a zip)."""

    files: dict[str, bytes] = field(default_factory=dict)
    recordings: list[str] = field(default_factory=list)

    def add_json(self, path: str, value: Any) -> None:
        """Add a JSON file (sorted keys, two-space indent, trailing newline)."""
        self.files[path] = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8")

    def zip_bytes(self) -> bytes:
        """The export as one zip file (the console's download), under a folder of its own."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for relative, data in sorted(self.files.items()):
                archive.writestr(f"flexrec-export/{relative}", data)
        return buffer.getvalue()

    def write_to(self, folder: Path) -> list[Path]:
        """Write every file under `folder` (created; existing files are not overwritten)."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for relative, data in sorted(self.files.items()):
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as handle:  # never overwrite evidence
                handle.write(data)
            written.append(target)
        return written


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _row_public(row: Any, names: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(row, name)
        out[name] = _iso(value) if isinstance(value, datetime) else value
    return out


MANIFEST_FIELDS = (
    "recording_sid", "kind", "call_sid", "storage_key", "version_id", "stored_sha256",
    "size_bytes", "plain_sha256", "plain_size_bytes", "encrypted", "key_id", "duration_ms",
    "channels", "source_sha256", "redaction", "lock_mode", "retain_until", "legal_obligation",
    "sealed_at",
)  # fmt: skip
AUDIT_FIELDS = (
    "seq", "at", "actor", "actor_worker_sid", "action", "recording_sid", "ip", "detail",
    "prev_hash", "row_hash",
)  # fmt: skip


def build_export(
    session: Session,
    store: BlobStore,
    recordings: Sequence[str],
    *,
    signing_key: Ed25519PrivateKey,
    archive_key: ArchiveKey | None,
    exported_by: str,
    tsa_url: str = "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportBundle:
    """Gather, hash and sign the export of `recordings` (the caller audits and writes it)."""
    bundle = ExportBundle()
    for recording_sid in dict.fromkeys(recordings):
        _add_recording(session, store, archive_key, bundle, recording_sid)
    head = session.get(AuditChainHead, 1)
    statement = {
        "statement": "flexrec export with chain of custody",
        "exported_at": _iso(clock()),
        "exported_by": exported_by,
        "recordings": bundle.recordings,
        "audit_chain": {
            "format_version": CHAIN_VERSION,
            "head_seq": head.seq if head else 0,
            "head_hash": head.row_hash if head else None,
        },
        "signature": {
            "algorithm": "Ed25519",
            "signed_file": "SHA256SUMS",
            "signing_key_sha256": key_fingerprint(signing_key),
        },
        "timestamp": {"rfc3161_reply": "SHA256SUMS.tsr", "tsa_url": tsa_url} if tsa_url else None,
    }
    bundle.add_json("statement.json", statement)
    bundle.files["VERIFY.txt"] = VERIFY_TEXT.format(chain=CHAIN_VERSION).encode("utf-8")
    bundle.files["signing-key.pub.pem"] = public_pem(signing_key)
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {path}\n"
        for path, data in sorted(bundle.files.items())
    ).encode("utf-8")
    bundle.files["SHA256SUMS"] = sums
    bundle.files["SHA256SUMS.sig"] = signing_key.sign(sums)
    if tsa_url:
        try:
            bundle.files["SHA256SUMS.tsr"] = request_timestamp(tsa_url, sums)
        except TimestampError as exc:
            raise ExportUnavailable(str(exc)) from exc
    return bundle


def _sealed_plain(
    store: BlobStore, archive_key: ArchiveKey | None, manifest: SealedObject
) -> bytes:
    side = versioned(store)
    stored = (
        side.get_version(manifest.storage_key, manifest.version_id)
        if side is not None and manifest.version_id
        else store.get(manifest.storage_key)
    )
    if hashlib.sha256(stored).hexdigest() != manifest.stored_sha256:
        raise ExportError(
            f"{manifest.recording_sid}: the stored {manifest.kind} does not match its seal "
            "(run flexrec verify)"
        )
    if not manifest.encrypted:
        return stored
    if archive_key is None:
        raise ExportError("the archive is encrypted: FLEXREC_ARCHIVE_KEY is needed")
    return archive_key.open(stored, manifest.recording_sid)


def _add_recording(
    session: Session,
    store: BlobStore,
    archive_key: ArchiveKey | None,
    bundle: ExportBundle,
    recording_sid: str,
) -> None:
    row = session.scalars(
        select(ArchivedRecording).where(ArchivedRecording.recording_sid == recording_sid)
    ).one_or_none()
    if row is None:
        raise ExportError(f"{recording_sid} is not in the archive")
    manifests = session.scalars(
        select(SealedObject).where(SealedObject.recording_sid == recording_sid)
    ).all()
    audio = next((m for m in manifests if m.kind == "audio" and m.removed_at is None), None)
    if audio is None or row.purged_at is not None:
        raise ExportError(
            f"{recording_sid} has no sealed audio to export (archived before sealing, "
            "purged or erased)"
        )
    plain = _sealed_plain(store, archive_key, audio)
    base = recording_sid
    bundle.files[f"{base}/audio.wav"] = plain
    bundle.add_json(
        f"{base}/manifest.json",
        {
            "objects": [_row_public(m, MANIFEST_FIELDS) for m in manifests],
            "recording": {
                "recording_sid": row.recording_sid,
                "call_sid": row.call_sid,
                "task_sids": row.task_sids,
                "recording_started_at": _iso(row.recording_started_at),
                "channel_labels": row.channel_labels,
                "retain_until": _iso(row.retain_until),
                "legal_hold": bool(row.legal_hold),
            },
        },
    )
    for manifest in manifests:
        if manifest.kind != "audio" and manifest.removed_at is None:
            # The sealed bytes themselves: their SHA-256 is the manifest's `plain_sha256`.
            bundle.files[f"{base}/{manifest.kind}.json"] = _sealed_plain(
                store, archive_key, manifest
            )
    analysis = session.scalars(
        select(RecordingAnalysis).where(RecordingAnalysis.recording_sid == recording_sid)
    ).one_or_none()
    if f"{base}/analysis.json" not in bundle.files and analysis is not None:
        if analysis.state in ("done", "mono"):
            bundle.add_json(f"{base}/analysis.json", analysis_document(analysis))
    audit = session.scalars(
        select(AuditLog).where(AuditLog.recording_sid == recording_sid).order_by(AuditLog.seq)
    ).all()
    bundle.files[f"{base}/audit.jsonl"] = "".join(
        json.dumps(_row_public(r, AUDIT_FIELDS), sort_keys=True) + "\n" for r in audit
    ).encode("utf-8")
    bundle.recordings.append(recording_sid)


def export_and_audit(
    sessions: Callable[[], Session],
    store: BlobStore,
    recordings: Sequence[str],
    *,
    signing_key: Ed25519PrivateKey,
    archive_key: ArchiveKey | None,
    actor: str,
    via: str,
    ip: str | None = None,
    tsa_url: str = "",
) -> ExportBundle:
    """Build a signed export and write one `exported` audit row per recording in it."""
    with sessions() as session:
        bundle = build_export(
            session, store, recordings, signing_key=signing_key, archive_key=archive_key,
            exported_by=actor, tsa_url=tsa_url,
        )  # fmt: skip
        export_id = hashlib.sha256(bundle.files["SHA256SUMS"]).hexdigest()
        for recording_sid in bundle.recordings:
            session.add(
                AuditLog(
                    actor=actor,
                    action="exported",
                    recording_sid=recording_sid,
                    ip=ip,
                    detail={"export_sha256sums": export_id, "via": via},
                )
            )
        session.commit()
    return bundle
