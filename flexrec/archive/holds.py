"""Legal holds: set, release and list them, with who, when and why, each change audited.

A held recording is never deleted: retention skips it (flexrec.archive.retention) and the
archive job keeps Twilio's copy while the hold lasts (flexrec.archive.job). The row keeps the
hold in force (`legal_hold_by/at/reason`); the audit log keeps every change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.deps import ArchiveDeps
from flexrec.archive.errors import RecordingNotArchived
from flexrec.archive.models import ArchivedRecording, SealedObject
from flexrec.archive.retention import apply_retention as purge_expired
from flexrec.archive.storage import BlobStore, StorageError
from flexrec.archive.worm import versioned

log = structlog.get_logger(__name__)

MAX_REASON = 500


class HoldError(ValueError):
    """A hold change asked for the impossible (no reason given, say)."""


class NotHeld(HoldError):
    """A release asked for a recording that is not on legal hold: nothing changed."""


@dataclass(frozen=True)
class RetentionFacts:
    """What an operator asks of one recording: how long it is kept and whether it is held."""

    recording_sid: str
    retain_until: datetime | None
    legal_hold: bool
    held_by: str | None
    held_at: datetime | None
    hold_reason: str | None
    purged_at: datetime | None

    def public(self) -> dict[str, Any]:
        """JSON-ready fields (times in ISO 8601 UTC)."""
        return {
            "recording_sid": self.recording_sid,
            "retain_until": _iso(self.retain_until),
            "legal_hold": self.legal_hold,
            "held_by": self.held_by,
            "held_at": _iso(self.held_at),
            "hold_reason": self.hold_reason,
            "purged_at": _iso(self.purged_at),
        }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def facts_of(row: ArchivedRecording) -> RetentionFacts:
    """The retention and hold facts of one archive row."""
    return RetentionFacts(
        recording_sid=row.recording_sid,
        retain_until=row.retain_until,
        legal_hold=bool(row.legal_hold),
        held_by=row.legal_hold_by,
        held_at=row.legal_hold_at,
        hold_reason=row.legal_hold_reason,
        purged_at=row.purged_at,
    )


def _row(session: Session, recording_sid: str) -> ArchivedRecording:
    row = session.scalars(
        select(ArchivedRecording).where(ArchivedRecording.recording_sid == recording_sid)
    ).one_or_none()
    if row is None:
        raise RecordingNotArchived(recording_sid)
    return row


def _now() -> datetime:
    return datetime.now(UTC)


def place_hold(
    sessions: Callable[[], Session],
    recording_sid: str,
    actor: str,
    reason: str,
    *,
    clock: Callable[[], datetime] = _now,
    ip: str | None = None,
) -> RetentionFacts:
    """Hold a recording (again: the new reason replaces the old); audited as `legal_hold_set`."""
    reason = _reason(reason, "say why the recording is held (a case or matter reference)")
    with sessions() as session:
        row = _row(session, recording_sid)
        now = clock()
        row.legal_hold = True
        row.legal_hold_by = actor
        row.legal_hold_at = now
        row.legal_hold_reason = reason
        row.updated_at = now
        session.add(
            AuditLog(
                at=now,
                actor=actor,
                action="legal_hold_set",
                recording_sid=recording_sid,
                ip=ip,
                detail={"reason": reason},
            )
        )
        session.commit()
        return facts_of(row)


def _reason(reason: str, missing: str) -> str:
    # Every hold change says why, whoever makes it (CLI, admin API, console): one rule here.
    reason = reason.strip()
    if not reason:
        raise HoldError(missing)
    if len(reason) > MAX_REASON:
        raise HoldError(f"the reason is limited to {MAX_REASON} characters")
    return reason


def release_hold(
    sessions: Callable[[], Session],
    recording_sid: str,
    actor: str,
    reason: str = "",
    *,
    clock: Callable[[], datetime] = _now,
    ip: str | None = None,
) -> RetentionFacts:
    """Release a hold; audited as `legal_hold_cleared` with the hold that was in force.

    Retention applies again from the next sweep: a recording past its date is then deleted.
    The reason is required, as for a hold; a recording not on hold raises `NotHeld` and
    nothing is written.
    """
    reason = _reason(reason, "say why the hold ends (e.g. the matter is closed)")
    with sessions() as session:
        row = _row(session, recording_sid)
        if not row.legal_hold:
            raise NotHeld(f"{recording_sid} is not on legal hold: nothing to release")
        now = clock()
        released = {
            "held_by": row.legal_hold_by,
            "held_at": _iso(row.legal_hold_at),
            "hold_reason": row.legal_hold_reason,
        }
        row.legal_hold = False
        row.legal_hold_by = None
        row.legal_hold_at = None
        row.legal_hold_reason = None
        row.updated_at = now
        session.add(
            AuditLog(
                at=now,
                actor=actor,
                action="legal_hold_cleared",
                recording_sid=recording_sid,
                ip=ip,
                detail={"reason": reason, **released},
            )
        )
        session.commit()
        return facts_of(row)


def list_holds(sessions: Callable[[], Session]) -> list[RetentionFacts]:
    """Every recording under legal hold, the most recently held first."""
    with sessions() as session:
        rows = session.scalars(
            select(ArchivedRecording)
            .where(ArchivedRecording.legal_hold.is_(True))
            .order_by(ArchivedRecording.legal_hold_at.desc(), ArchivedRecording.id.desc())
        ).all()
        return [facts_of(r) for r in rows]


def retention_facts(
    sessions: Callable[[], Session], recording_sids: Iterable[str]
) -> dict[str, RetentionFacts]:
    """Retention and hold facts of the given recordings that are in the archive, by SID."""
    wanted = sorted(set(recording_sids))
    if not wanted:
        return {}
    with sessions() as session:
        rows = session.scalars(
            select(ArchivedRecording).where(ArchivedRecording.recording_sid.in_(wanted))
        ).all()
        return {r.recording_sid: facts_of(r) for r in rows}


def apply_object_holds(sessions: Callable[[], Session], store: BlobStore) -> int:
    """Make each sealed version's Object Lock legal hold match its recording's; returns changes.

    Level-triggered: whoever set or released the hold (CLI, admin API, console), the storage
    follows within one run, and a failed call is simply tried again on the next.
    """
    side = versioned(store)
    if side is None:
        return 0
    with sessions() as session:
        pending = session.execute(
            select(SealedObject, ArchivedRecording.legal_hold)
            .join(ArchivedRecording, ArchivedRecording.recording_sid == SealedObject.recording_sid)
            .where(
                SealedObject.version_id.is_not(None),
                SealedObject.removed_at.is_(None),
                SealedObject.object_legal_hold != ArchivedRecording.legal_hold,
            )
        ).all()
        changed = 0
        for manifest, held in pending:
            assert manifest.version_id is not None  # noqa: S101 - filtered above
            try:
                side.set_legal_hold(manifest.storage_key, manifest.version_id, bool(held))
            except StorageError as exc:
                log.warning("archive.object_hold_failed", key=manifest.storage_key, error=str(exc))
                continue
            manifest.object_legal_hold = bool(held)
            session.commit()
            changed += 1
            log.info(
                "archive.object_hold",
                recording_sid=manifest.recording_sid,
                key=manifest.storage_key,
                version_id=manifest.version_id,
                legal_hold=bool(held),
            )
        return changed


def on_hold(session: Session, row_id: int) -> bool:
    """True when the row is held now (read fresh: a hold set a moment ago must win)."""
    held = session.scalar(
        select(ArchivedRecording.legal_hold).where(ArchivedRecording.id == row_id)
    )
    return bool(held)


class Holds:
    """The archive's retention sweep, legal holds and audit log (the facade's room for them)."""

    def __init__(self, deps: ArchiveDeps) -> None:
        self.deps = deps

    def apply_retention(self, now: datetime | None = None) -> list[str]:
        """Purge expired media not on legal hold; returns the purged recording SIDs."""
        deps = self.deps
        # Holds first: a version the storage is about to be asked to delete is held there too.
        apply_object_holds(deps.sessions, deps.store)
        return purge_expired(deps.sessions, deps.store, now or deps.clock(), deps.clock)

    def apply_object_holds(self) -> int:
        """Bring the storage's legal holds in line with the recordings' (see the function)."""
        return apply_object_holds(self.deps.sessions, self.deps.store)

    def set_legal_hold(
        self, recording_sid: str, hold: bool, actor: str, reason: str = ""
    ) -> ArchivedRecording:
        """Put a recording under legal hold (or release it); audited."""
        change = place_hold if hold else release_hold
        change(self.deps.sessions, recording_sid, actor, reason, clock=self.deps.clock)
        apply_object_holds(self.deps.sessions, self.deps.store)
        row = self.deps.get(recording_sid)
        if row is None:  # pragma: no cover - the hold functions raise first
            raise RecordingNotArchived(recording_sid)
        return row

    def audit(
        self,
        action: str,
        actor: str,
        recording_sid: str | None,
        *,
        ip: str | None = None,
        worker_sid: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Append one entry to the audit log."""
        with self.deps.sessions() as session:
            session.add(
                AuditLog(
                    at=self.deps.clock(),
                    actor=actor,
                    actor_worker_sid=worker_sid,
                    action=action,
                    recording_sid=recording_sid,
                    ip=ip,
                    detail=dict(detail or {}),
                )
            )
            session.commit()
