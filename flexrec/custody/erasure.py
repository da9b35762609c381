"""Erasure requests (GDPR art. 17) that respect retention duties and legal holds.

`erase_customer(number)` finds the customer's recordings (the archive rows whose customer
number matches, in any common writing of it) and for each one decides:

- kept, and reported with why and until when: under legal hold; under a rule marked as a
  legal obligation whose date has not come; or under a COMPLIANCE lock the storage enforces
  (nobody can lift it, not even for this request);
- erased otherwise: every stored version deleted by version ID (a GOVERNANCE lock, which a
  rule only *allows*, is bypassed for the request), Twilio's copy deleted, the task's
  `conversations.media` entries for it removed, the analysis deleted, the archive row's
  personal fields cleared. The row and the manifest stay as records that something existed.

Each erased recording is listed in `erased_recordings`, which the recording service's link
repair reads: a recording there is never linked into a task again. The request leaves one
audit row (`erasure`) naming the recordings erased and kept, without the number.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.models import (
    ArchivedRecording,
    ErasedRecording,
    RecordingAnalysis,
    SealedObject,
)
from flexrec.archive.removal import delete_objects, mark_removed, object_keys
from flexrec.archive.retention import RetentionPolicy
from flexrec.archive.storage import BlobStore, StorageError
from flexrec.db.models import TaskRecord
from flexrec.recording.attributes import recording_sid_of
from flexrec.twilio.errors import GatewayError

log = structlog.get_logger(__name__)

_NOT_DIGITS = re.compile(r"\D")


class ErasureError(ValueError):
    """The request cannot be run as given (a number that is not a phone number)."""


def number_forms(number: str) -> list[str]:
    """The ways the same number may have been stored: E.164, digits, national (NANP)."""
    digits = _NOT_DIGITS.sub("", number)
    if len(digits) < 6:
        raise ErasureError(f"{number!r} is not a phone number (give it as +15551234567)")
    forms = {number.strip(), digits, f"+{digits}"}
    if len(digits) == 11 and digits.startswith("1"):
        forms.update({digits[1:], f"+{digits}"})
    if len(digits) == 10:
        forms.update({f"1{digits}", f"+1{digits}"})
    return sorted(forms)


@dataclass(frozen=True)
class Kept:
    """A recording the request may not erase, and why."""

    recording_sid: str
    reason: str  # legal_hold | legal_obligation | compliance_lock | storage_refused
    retain_until: datetime | None
    detail: str = ""

    def public(self) -> dict[str, Any]:
        """JSON-ready fields (no personal data)."""
        return {
            "recording_sid": self.recording_sid,
            "reason": self.reason,
            "retain_until": self.retain_until.isoformat() if self.retain_until else None,
            "detail": self.detail,
        }


@dataclass
class ErasureReport:
    """What one request erased, kept, and could not finish."""

    request_id: str
    erased: list[str] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    # Steps that failed in a way that may pass (Twilio unreachable): run the request again.
    incomplete: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """JSON-ready summary (no personal data)."""
        return {
            "request_id": self.request_id,
            "erased": self.erased,
            "kept": [k.public() for k in self.kept],
            "incomplete": self.incomplete,
        }


class TwilioCopies:
    """What erasure asks of Twilio: delete a recording, drop its media entries from tasks."""

    def __init__(self, gateway: Any | None) -> None:
        self.gateway = gateway

    def delete_recording(self, recording_sid: str) -> None:
        """Delete Twilio's copy (already gone is fine)."""
        if self.gateway is None:
            raise GatewayError("no Twilio credentials: Twilio's copy was not deleted")
        try:
            self.gateway.delete_recording(recording_sid)
        except GatewayError as exc:
            if not exc.not_found:
                raise

    def unlink(self, task_sid: str, recording_sid: str, attempts: int = 5) -> bool:
        """Remove the recording's VoiceRecording entries from the task (If-Match merge).

        Returns False when the task no longer exists (TaskRouter deletes old tasks).
        """
        if self.gateway is None:
            raise GatewayError("no Twilio credentials: the task's media entry was not removed")
        for _ in range(attempts):
            try:
                task = self.gateway.fetch_task(task_sid)
            except GatewayError as exc:
                if exc.not_found:
                    return False
                raise
            attributes = dict(task.attributes or {})
            if not _drop_entries(attributes, recording_sid):
                return True
            try:
                self.gateway.update_task_attributes(task_sid, attributes, task.etag)
                return True
            except GatewayError as exc:
                if exc.status != 412:  # someone wrote meanwhile: read again and retry
                    raise
        raise GatewayError(f"task {task_sid} kept changing: its media entry was not removed")


def _drop_entries(attributes: dict[str, Any], recording_sid: str) -> bool:
    """Remove the recording's entries from every media list in the attributes; True if any."""
    changed = False
    holders: list[Any] = [attributes.get("conversations")]
    reservations = attributes.get("reservation_attributes")
    if isinstance(reservations, dict):
        holders.extend(reservations.values())
    for holder in holders:
        if isinstance(holder, dict) and isinstance(holder.get("media"), list):
            kept = [e for e in holder["media"] if recording_sid_of(e) != recording_sid]
            if len(kept) != len(holder["media"]):
                holder["media"] = kept
                changed = True
    return changed


def erase_customer(
    sessions: Callable[[], Session],
    store: BlobStore,
    twilio: TwilioCopies,
    number: str,
    *,
    actor: str,
    retention: RetentionPolicy,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ErasureReport:
    """Erase what the law lets us erase of one customer's recordings; report the rest."""
    forms = number_forms(number)
    report = ErasureReport(request_id=str(uuid.uuid4()))
    wanted = {_NOT_DIGITS.sub("", form) for form in forms}
    with sessions() as session:
        # Compared by digits in Python: numbers were stored as each source wrote them.
        sids = [
            recording_sid
            for recording_sid, stored in session.execute(
                select(ArchivedRecording.recording_sid, ArchivedRecording.customer_number)
                .where(ArchivedRecording.customer_number.is_not(None))
                .order_by(ArchivedRecording.id)
            )
            if _NOT_DIGITS.sub("", str(stored)) in wanted
        ]
    for recording_sid in sids:
        _erase_one(sessions, store, twilio, recording_sid, retention, clock, report)
    _scrub_tasks(sessions, report, set(forms))
    with sessions() as session:
        session.add(
            AuditLog(
                at=clock(),
                actor=actor,
                action="erasure",
                recording_sid=None,
                detail={
                    **report.public(),
                    # Lets the operator answer "was this request run?" without storing the
                    # number: the digest of the request id and the number, not the number.
                    "subject_digest": hashlib.sha256(
                        f"{report.request_id}:{_NOT_DIGITS.sub('', number)}".encode()
                    ).hexdigest(),
                },
            )
        )
        session.commit()
    return report


def _erase_one(
    sessions: Callable[[], Session],
    store: BlobStore,
    twilio: TwilioCopies,
    recording_sid: str,
    retention: RetentionPolicy,
    clock: Callable[[], datetime],
    report: ErasureReport,
) -> None:
    now = clock()
    with sessions() as session:
        row = session.scalars(
            select(ArchivedRecording).where(ArchivedRecording.recording_sid == recording_sid)
        ).one()
        kept = _must_keep(session, row, retention, now)
        if kept is not None:
            report.kept.append(kept)
            return
        try:
            refusals = delete_objects(store, object_keys(session, row), bypass_governance=True)
        except StorageError as exc:
            report.incomplete.append(f"{recording_sid}: archive delete failed ({exc})")
            return
        if refusals:
            first = refusals[0]
            report.kept.append(
                Kept(recording_sid, "storage_refused", first.retain_until, first.message)
            )
            return
        task_sids = list(row.task_sids or [])
        call_sid = row.call_sid
        row.purged_at = row.purged_at or now
        row.customer_number = None
        row.media_url = None
        row.updated_at = now
        mark_removed(session, recording_sid, "erasure", now)
        session.execute(
            delete(RecordingAnalysis).where(RecordingAnalysis.recording_sid == recording_sid)
        )
        if session.get(ErasedRecording, recording_sid) is None:
            session.add(
                ErasedRecording(
                    recording_sid=recording_sid,
                    call_sid=call_sid,
                    task_sids=task_sids,
                    request_id=report.request_id,
                    erased_at=now,
                )
            )
        session.commit()
    report.erased.append(recording_sid)
    try:
        twilio.delete_recording(recording_sid)
        for task_sid in task_sids:
            twilio.unlink(task_sid, recording_sid)
    except GatewayError as exc:
        report.incomplete.append(f"{recording_sid}: {exc}")
        log.warning("erasure.twilio_incomplete", recording_sid=recording_sid, error=str(exc))


ERASED = "[erased]"


def _scrub_tasks(sessions: Callable[[], Session], report: ErasureReport, forms: set[str]) -> None:
    """Replace the number wherever it appears in the stored attributes of the erased calls'
    tasks (the recording service's copy of what TaskRouter said)."""
    with sessions() as session:
        erased = session.scalars(
            select(ErasedRecording).where(ErasedRecording.request_id == report.request_id)
        ).all()
        task_sids = sorted({t for e in erased for t in (e.task_sids or [])})
        for task in session.scalars(select(TaskRecord).where(TaskRecord.sid.in_(task_sids))):
            if task.attributes is not None:
                task.attributes = _scrubbed(task.attributes, forms)
        session.commit()


def _scrubbed(value: Any, forms: set[str]) -> Any:
    if isinstance(value, str):
        digits = _NOT_DIGITS.sub("", value)
        return ERASED if digits and digits in {_NOT_DIGITS.sub("", f) for f in forms} else value
    if isinstance(value, dict):
        return {k: _scrubbed(v, forms) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, forms) for v in value]
    return value


def _must_keep(
    session: Session, row: ArchivedRecording, retention: RetentionPolicy, now: datetime
) -> Kept | None:
    sid = row.recording_sid
    if row.legal_hold:
        return Kept(sid, "legal_hold", row.retain_until, row.legal_hold_reason or "")
    until = row.retain_until
    rule = retention.rule_for(row.queue_name)
    if rule.legal_obligation and until is not None and until > now:
        return Kept(sid, "legal_obligation", until, f"retention rule of queue {row.queue_name}")
    locked = session.scalars(
        select(SealedObject).where(
            SealedObject.recording_sid == sid,
            SealedObject.removed_at.is_(None),
            SealedObject.lock_mode == "COMPLIANCE",
            SealedObject.retain_until > now,
        )
    ).first()
    if locked is not None:
        return Kept(sid, "compliance_lock", locked.retain_until, "the storage enforces it")
    return None
