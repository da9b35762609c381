"""`flexrec verify`: re-read the archive and prove it is what was sealed, and the audit chain whole.

Checks, one problem line each:
- every sealed object (or those sealed `since`, the recordings named, a random sample): read
  back (by version ID where the store has versions), its SHA-256 and size against the manifest,
  the plaintext's too when the archive key is at hand; missing, altered, hidden under a delete
  marker or overwritten by a newer version;
- its Object Lock: the lock the policy rule asked for is on the version until at least the
  sealed date (only COMPLIANCE counts as WORM in the summary), the legal hold where one is
  recorded as applied;
- the manifest row against its `sealed` audit row (the chain vouches for the manifest);
- the audit chain: every row's hash and link, and every anchor against the chain; a rewrite that
  recomputed every hash is named at the first row after the last anchor that still matches.
  Rows after the newest anchor are the unanchored tail (reported, not a failure).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flexrec.archive.audit_chain import AuditLog, walk_chain
from flexrec.archive.crypto import ArchiveKey, DecryptionError
from flexrec.archive.models import DONE_STATES, ArchivedRecording, SealedObject
from flexrec.archive.seal import sealed_detail
from flexrec.archive.storage import BlobNotFound, BlobStore, StorageError
from flexrec.archive.worm import VersionedStore, versioned
from flexrec.custody.anchors import Anchor, load_anchors

STALE_TAIL = timedelta(hours=2)
"""An unanchored tail older than this means anchoring stopped: a problem, not a note."""


@dataclass(frozen=True)
class Problem:
    """One thing that does not hold, named exactly."""

    kind: str  # missing | altered | deleted | overwritten | unlocked | manifest | audit | anchor
    subject: str  # RE… (and key) or `audit seq=N id=M`
    message: str

    def line(self) -> str:
        """The one line printed for it."""
        return f"{self.kind} {self.subject}: {self.message}"

    def public(self) -> dict[str, str]:
        """JSON-ready fields."""
        return {"kind": self.kind, "subject": self.subject, "message": self.message}


@dataclass
class VerifyReport:
    """What a verify run checked and found."""

    started_at: datetime
    objects: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    audit_rows: int = 0
    anchors: int = 0
    locks: dict[str, int] = field(
        default_factory=lambda: {"compliance": 0, "governance": 0, "none": 0, "legal_hold": 0}
    )
    unsealed: int = 0
    unanchored: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed (exit 0)."""
        return not self.problems

    def public(self) -> dict[str, Any]:
        """JSON-ready summary (`flexrec verify --json`)."""
        return {
            "ok": self.ok,
            "started_at": self.started_at.isoformat(),
            "objects_checked": self.objects,
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "objects_per_s": round(self.objects / self.seconds, 1) if self.seconds else None,
            "mb_per_s": round(self.bytes_read / 1e6 / self.seconds, 2) if self.seconds else None,
            "locks": self.locks,
            "archived_before_sealing": self.unsealed,
            "audit_rows": self.audit_rows,
            "anchors": self.anchors,
            "unanchored_tail": self.unanchored,
            "problems": [p.public() for p in self.problems],
        }


@dataclass(frozen=True)
class VerifyScope:
    """Which sealed objects to re-read (the audit chain is always checked whole)."""

    since: datetime | None = None
    recordings: Sequence[str] = ()
    sample_pct: float | None = None  # 0 < pct <= 100


def verify_archive(
    sessions: Callable[[], Session],
    store: BlobStore,
    *,
    key: ArchiveKey | None = None,
    scope: VerifyScope = VerifyScope(),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> VerifyReport:
    """Check the chosen objects and the whole audit chain; `report.ok` when all hold."""
    report = VerifyReport(started_at=clock())
    started = time.perf_counter()
    with sessions() as session:
        manifests = _chosen(session, scope)
        sealed_rows = _sealed_audit(session, [m.recording_sid for m in manifests])
        report.unsealed = _unsealed_count(session, scope)
        plain = {
            row.recording_sid: row.sha256
            for row in session.scalars(
                select(ArchivedRecording).where(
                    ArchivedRecording.recording_sid.in_([m.recording_sid for m in manifests])
                )
            )
        }
    side = versioned(store)
    for manifest in manifests:
        report.objects += 1
        _check_object(report, store, side, key, manifest, clock())
        _check_manifest(report, manifest, sealed_rows.get((manifest.recording_sid, manifest.kind)))
        if manifest.kind == "audio" and plain.get(manifest.recording_sid) not in (
            None,
            manifest.plain_sha256,
        ):
            report.problems.append(
                Problem(
                    "manifest",
                    manifest.recording_sid,
                    "the archive row's SHA-256 differs from the sealed manifest's",
                )
            )
    _check_chain(report, sessions, store, clock())
    report.seconds = time.perf_counter() - started
    return report


def _chosen(session: Session, scope: VerifyScope) -> list[SealedObject]:
    query = select(SealedObject).where(SealedObject.removed_at.is_(None))
    if scope.since is not None:
        query = query.where(SealedObject.sealed_at >= scope.since)
    if scope.recordings:
        query = query.where(SealedObject.recording_sid.in_(list(scope.recordings)))
    rows = list(session.scalars(query.order_by(SealedObject.id)))
    if scope.sample_pct is not None and scope.sample_pct < 100:
        # Unpredictable on purpose: nobody can tell in advance which objects get read.
        count = max(1, round(len(rows) * scope.sample_pct / 100)) if rows else 0
        rows = sorted(random.SystemRandom().sample(rows, count), key=lambda m: m.id)
    return rows


def _unsealed_count(session: Session, scope: VerifyScope) -> int:
    query = (
        select(func.count())
        .select_from(ArchivedRecording)
        .where(
            ArchivedRecording.state.in_(DONE_STATES),
            ArchivedRecording.purged_at.is_(None),
            ~select(SealedObject.id)
            .where(SealedObject.recording_sid == ArchivedRecording.recording_sid)
            .exists(),
        )
    )
    if scope.recordings:
        query = query.where(ArchivedRecording.recording_sid.in_(list(scope.recordings)))
    return int(session.scalar(query) or 0)


def _sealed_audit(
    session: Session, recording_sids: Sequence[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest `sealed` audit row's detail per (recording, kind)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    wanted = set(recording_sids)
    for row in session.scalars(
        select(AuditLog).where(AuditLog.action == "sealed").order_by(AuditLog.seq)
    ):
        if row.recording_sid in wanted:
            found[(str(row.recording_sid), str(row.detail.get("kind")))] = dict(row.detail)
    return found


def _subject(manifest: SealedObject) -> str:
    version = f"?versionId={manifest.version_id}" if manifest.version_id else ""
    return f"{manifest.recording_sid} {manifest.storage_key}{version}"


def _check_object(
    report: VerifyReport,
    store: BlobStore,
    side: VersionedStore | None,
    key: ArchiveKey | None,
    manifest: SealedObject,
    now: datetime,
) -> None:
    subject = _subject(manifest)
    try:
        if side is not None and manifest.version_id:
            data = side.get_version(manifest.storage_key, manifest.version_id)
        else:
            data = store.get(manifest.storage_key)
    except BlobNotFound:
        report.problems.append(Problem("missing", subject, "the sealed object is gone"))
        return
    except StorageError as exc:
        report.problems.append(Problem("missing", subject, f"could not be read: {exc}"))
        return
    report.bytes_read += len(data)
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.stored_sha256 or len(data) != manifest.size_bytes:
        report.problems.append(
            Problem(
                "altered",
                subject,
                f"SHA-256 {digest[:16]}… ({len(data)} bytes) where "
                f"{manifest.stored_sha256[:16]}… ({manifest.size_bytes} bytes) was sealed",
            )
        )
    elif manifest.encrypted and key is not None:
        try:
            plain = key.open(data, manifest.recording_sid)
        except DecryptionError as exc:
            report.problems.append(Problem("altered", subject, f"does not decrypt: {exc}"))
        else:
            if hashlib.sha256(plain).hexdigest() != manifest.plain_sha256:
                report.problems.append(
                    Problem("altered", subject, "the plaintext differs from the sealed one")
                )
    if side is not None and manifest.version_id:
        _check_lock(report, side, manifest, subject, now)
    else:
        report.locks["none"] += 1


def _check_lock(
    report: VerifyReport,
    side: VersionedStore,
    manifest: SealedObject,
    subject: str,
    now: datetime,
) -> None:
    assert manifest.version_id is not None  # noqa: S101 - checked by the caller
    try:
        state = side.lock_state(manifest.storage_key, manifest.version_id)
    except StorageError as exc:
        report.problems.append(Problem("unlocked", subject, f"lock state unreadable: {exc}"))
        return
    report.locks[(state.mode or "none").lower()] += 1
    report.locks["legal_hold"] += int(state.legal_hold)
    if state.delete_marker_on_top:
        report.problems.append(
            Problem("deleted", subject, "a delete marker hides the sealed version (a deletion)")
        )
    elif state.superseded:
        report.problems.append(
            Problem("overwritten", subject, "a newer version sits on top of the sealed one")
        )
    sealed_until = manifest.retain_until
    if manifest.lock_mode and sealed_until is not None and sealed_until > now:
        if state.mode != manifest.lock_mode or (
            state.retain_until is None or state.retain_until < sealed_until
        ):
            held = f"{state.mode or 'no lock'} until {state.retain_until}"
            report.problems.append(
                Problem(
                    "unlocked",
                    subject,
                    f"sealed under {manifest.lock_mode} until {sealed_until.isoformat()}, "
                    f"the storage now says {held}",
                )
            )
    if manifest.object_legal_hold and not state.legal_hold:
        report.problems.append(
            Problem("unlocked", subject, "the legal hold applied to the version is gone")
        )


def _check_manifest(
    report: VerifyReport, manifest: SealedObject, sealed: dict[str, Any] | None
) -> None:
    if sealed is None:
        report.problems.append(
            Problem("manifest", manifest.recording_sid, "no `sealed` audit row vouches for it")
        )
        return
    now = sealed_detail(manifest)
    changed = sorted(name for name in now if now[name] != sealed.get(name))
    if changed:
        report.problems.append(
            Problem(
                "manifest",
                manifest.recording_sid,
                f"differs from its `sealed` audit row in {', '.join(changed)}",
            )
        )


def _check_chain(
    report: VerifyReport, sessions: Callable[[], Session], store: BlobStore, now: datetime
) -> None:
    anchor_set = load_anchors(sessions, store)
    anchors = anchor_set.anchors
    report.anchors = len(anchors)
    for message in anchor_set.problems:
        report.problems.append(Problem("anchor", "audit", message))
    keep = {a.seq for a in anchors} | {a.seq + 1 for a in anchors} | {0}
    with sessions() as session:
        walk = walk_chain(session, keep=keep)
        report.audit_rows = walk.rows
        for problem in walk.problems:
            report.problems.append(Problem("audit", _row_subject(problem.seq, problem.row_id),
                                           problem.message))  # fmt: skip
        _check_anchors(report, anchors, walk.hashes, walk.ids, walk.last_seq)
        newest = max((a.seq for a in anchors), default=0)
        tail = walk.last_seq - newest
        oldest = None
        if tail > 0:
            oldest = session.scalar(select(AuditLog.at).where(AuditLog.seq == newest + 1))
        report.unanchored = {
            "rows": max(0, tail),
            "first_seq": newest + 1 if tail > 0 else None,
            "oldest_at": oldest.isoformat() if oldest is not None else None,
        }
        if oldest is not None and now - oldest > STALE_TAIL:
            report.problems.append(
                Problem(
                    "anchor",
                    "audit",
                    f"{tail} audit rows from seq={newest + 1} are not anchored and the oldest "
                    f"is {(now - oldest).total_seconds() / 3600:.1f} h old: anchoring has "
                    "stopped (it runs every 15 minutes in the service)",
                )
            )


def _row_subject(seq: int | None, row_id: int | None) -> str:
    parts = ["audit"]
    if seq is not None:
        parts.append(f"seq={seq}")
    if row_id is not None:
        parts.append(f"id={row_id}")
    return " ".join(parts)


def _check_anchors(
    report: VerifyReport,
    anchors: list[Anchor],
    hashes: dict[int, str],
    ids: dict[int, int],
    last_seq: int,
) -> None:
    """Every anchor must be a head the chain passes through; name where the rewrite starts."""
    good = 0
    for anchor in anchors:  # in seq order
        stored = hashes.get(anchor.seq)
        if stored == anchor.row_hash:
            good = max(good, anchor.seq)
            continue
        first = good + 1
        where = f"seq={first}" + (f" id={ids[first]}" if first in ids else "")
        if anchor.seq > last_seq:
            why = f"the chain ends at seq={last_seq}, before it (rows were removed)"
        else:
            why = "the row there now carries another hash (history was rewritten)"
        report.problems.append(
            Problem(
                "audit",
                f"audit {where}",
                f"the chain from here on does not lead to the head anchored at seq="
                f"{anchor.seq} on {anchor.anchored_at.isoformat()}: {why}; the last anchor "
                f"that still holds is seq={good}",
            )
        )
        return
