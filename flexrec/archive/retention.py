"""How long archived media is kept, per queue, and the sweep that deletes what has expired.

Policy file (TOML, `FLEXREC_POLICY_FILE`):

    [retention]
    default_days = 365          # omit or set 0 to keep forever
    legal_obligation = false    # the default rule is a legal obligation (compliance lock)
    lock = "governance"         # Object Lock of the default rule: none | governance | compliance
    worm = true                 # the archive must be WORM storage (refused on a local folder)
    [retention.by_queue]
    Sales = 90                  # days, with the default rule's lock
    [retention.by_queue.Trading]
    days = 2555                 # MiFID II: seven years, on a medium nobody can alter
    legal_obligation = true     # so: COMPLIANCE lock until the date (nobody can lift it)

Object Lock modes (flexrec.archive.worm): COMPLIANCE only for a rule marked as a legal
obligation (it cannot be lifted, not even for an erasure request); GOVERNANCE where a rule asks
for it (an erasure may lift it). A rule that locks needs a number of days (a lock needs a date).
A row under legal hold is never deleted, whatever its `retain_until`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.models import ArchivedRecording
from flexrec.archive.removal import Refusal, delete_objects, mark_removed, object_keys
from flexrec.archive.storage import BlobStore, LockMode, ObjectLock, StorageError

log = structlog.get_logger(__name__)


class RetentionPolicyError(ValueError):
    """The `[retention]` section is malformed."""


LOCKS = ("none", "governance", "compliance")


@dataclass(frozen=True)
class RetentionRule:
    """How long one kind of recording is kept, and how the storage locks it."""

    days: int | None
    legal_obligation: bool = False
    lock: str = "none"  # none | governance | compliance

    @property
    def lock_mode(self) -> LockMode | None:
        """The Object Lock mode this rule puts on each object version (None: no lock)."""
        if self.lock == "compliance":
            return "COMPLIANCE"
        return "GOVERNANCE" if self.lock == "governance" else None


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep media, by queue name, with a default (None = forever), and their locks."""

    default_days: int | None = 365
    by_queue: Mapping[str, int | None] = field(default_factory=dict)
    legal_obligation: bool = False
    lock: str = "none"
    # Queues whose rule differs from the default in more than days: (obligation, lock).
    queue_locks: Mapping[str, tuple[bool, str]] = field(default_factory=dict)
    worm: bool = False

    def rule_for(self, queue_name: str | None) -> RetentionRule:
        """The rule a recording made in `queue_name` falls under."""
        if queue_name is not None and queue_name in self.by_queue:
            obligation, lock = self.queue_locks.get(queue_name, (self.legal_obligation, self.lock))
            return RetentionRule(self.by_queue[queue_name], obligation, lock)
        return RetentionRule(self.default_days, self.legal_obligation, self.lock)

    def days_for(self, queue_name: str | None) -> int | None:
        """Days to keep a recording made in `queue_name`."""
        return self.rule_for(queue_name).days

    def retain_until(self, started_at: datetime, queue_name: str | None) -> datetime | None:
        """When a recording that started at `started_at` expires (None = never)."""
        days = self.days_for(queue_name)
        return None if days is None else started_at + timedelta(days=days)

    def lock_for(self, queue_name: str | None, retain_until: datetime | None) -> ObjectLock | None:
        """The Object Lock to write a recording's objects with (None: none asked)."""
        mode = self.rule_for(queue_name).lock_mode
        if mode is None or retain_until is None:
            return None
        return ObjectLock(mode, retain_until)

    @property
    def wants_worm(self) -> bool:
        """True when the policy asks for WORM storage (explicitly, or by any rule's lock)."""
        rules = [self.rule_for(None), *(self.rule_for(q) for q in self.by_queue)]
        return self.worm or any(rule.lock_mode is not None for rule in rules)

    def longest_lock(self, now: datetime) -> ObjectLock | None:
        """The strongest, longest lock of any rule from `now` (for the audit anchors)."""
        rules = [self.rule_for(None), *(self.rule_for(q) for q in self.by_queue)]
        locked = [r for r in rules if r.lock_mode is not None and r.days is not None]
        if not locked:
            return None
        mode: LockMode = (
            "COMPLIANCE" if any(r.lock_mode == "COMPLIANCE" for r in locked) else "GOVERNANCE"
        )
        return ObjectLock(mode, now + timedelta(days=max(r.days or 0 for r in locked)))

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> RetentionPolicy:
        """Build a policy from the `[retention]` table."""
        unknown = set(section) - {"default_days", "by_queue", "legal_obligation", "lock", "worm"}
        if unknown:
            raise RetentionPolicyError(f"unknown retention settings: {sorted(unknown)}")
        default = _days(section.get("default_days", 365), "default_days")
        obligation, lock = _lock(section, default, "retention")
        worm = section.get("worm", False)
        if not isinstance(worm, bool):
            raise RetentionPolicyError("retention.worm must be true or false")
        by_queue_raw = section.get("by_queue", {})
        if not isinstance(by_queue_raw, Mapping):
            raise RetentionPolicyError("retention.by_queue must be a table of queue = days")
        by_queue: dict[str, int | None] = {}
        queue_locks: dict[str, tuple[bool, str]] = {}
        for queue, value in by_queue_raw.items():
            name = f"by_queue.{queue}"
            if isinstance(value, Mapping):
                extra = set(value) - {"days", "legal_obligation", "lock"}
                if extra:
                    raise RetentionPolicyError(f"unknown settings in {name}: {sorted(extra)}")
                days = _days(value.get("days", section.get("default_days", 365)), name)
                by_queue[str(queue)] = days
                queue_locks[str(queue)] = _lock(value, days, f"retention.{name}")
            else:
                by_queue[str(queue)] = _days(value, name)
        return cls(
            default_days=default,
            by_queue=by_queue,
            legal_obligation=obligation,
            lock=lock,
            queue_locks=queue_locks,
            worm=worm,
        )


def _lock(table: Mapping[str, Any], days: int | None, name: str) -> tuple[bool, str]:
    """(legal obligation, lock) of one rule, checked: compliance only for a legal obligation."""
    obligation = table.get("legal_obligation", False)
    if not isinstance(obligation, bool):
        raise RetentionPolicyError(f"{name}.legal_obligation must be true or false")
    lock = table.get("lock", "compliance" if obligation else "none")
    if lock not in LOCKS:
        raise RetentionPolicyError(f"{name}.lock must be one of {', '.join(LOCKS)}")
    if lock == "compliance" and not obligation:
        raise RetentionPolicyError(
            f"{name}: a compliance lock cannot be lifted by anyone, not even for an erasure "
            "request: only a rule marked legal_obligation = true may ask for one"
        )
    if lock != "none" and days is None:
        raise RetentionPolicyError(f"{name}: a locked rule needs a number of days (a lock ends)")
    return obligation, lock


def _days(value: Any, name: str) -> int | None:
    # bool is an int subclass in Python; `true` days is a typo, not a number.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RetentionPolicyError(f"retention {name} must be a whole number of days >= 0")
    return value or None


def load_retention_policy(policy_file: Path | None) -> RetentionPolicy:
    """Read `[retention]` from the policy file; no file or no section means the defaults."""
    if policy_file is None:
        return RetentionPolicy()
    try:
        with policy_file.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise RetentionPolicyError(f"policy file not found: {policy_file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RetentionPolicyError(f"policy file is not valid TOML: {exc}") from exc
    section = document.get("retention", {})
    if not isinstance(section, Mapping):
        raise RetentionPolicyError("[retention] must be a table")
    return RetentionPolicy.from_mapping(section)


def apply_retention(
    sessions: sessionmaker[Session],
    store: BlobStore,
    now: datetime,
    clock: Callable[[], datetime] | None = None,
) -> list[str]:
    """Delete every stored object whose `retain_until` has passed and is not on legal hold.

    Each deletion is committed on its own, so a crash mid-sweep loses nothing: the next sweep
    finds the rows not yet marked. Returns the recording SIDs purged by this call.
    """
    with sessions() as session:
        candidates = session.scalars(
            select(ArchivedRecording.recording_sid).where(
                ArchivedRecording.retain_until.is_not(None),
                ArchivedRecording.retain_until <= now,
                ArchivedRecording.legal_hold.is_(False),
                ArchivedRecording.purged_at.is_(None),
            )
        ).all()
    purged: list[str] = []
    for sid in candidates:
        with sessions() as session:
            row = session.scalars(
                select(ArchivedRecording).where(ArchivedRecording.recording_sid == sid)
            ).one()
            # Re-checked under this session: a hold set since the query wins.
            if row.legal_hold or row.purged_at is not None:
                continue
            try:
                refusals = delete_objects(store, object_keys(session, row))
            except StorageError as exc:
                log.warning("retention.delete_failed", recording_sid=sid, error=str(exc))
                continue
            stamp = clock() if clock else now
            if refusals:
                _refused(session, row, refusals, stamp)
                continue
            row.purged_at = stamp
            row.updated_at = stamp
            mark_removed(session, sid, "retention", stamp)
            session.add(
                AuditLog(
                    at=stamp,
                    actor="system",
                    action="purge",
                    recording_sid=sid,
                    detail={
                        "reason": "retention",
                        "retain_until": _iso(row.retain_until),
                        "queue": row.queue_name,
                        "storage_key": row.storage_key,
                    },
                )
            )
            session.commit()
        log.info(
            "retention.purged",
            recording_sid=sid,
            queue=row.queue_name,
            retain_until=_iso(row.retain_until),
            storage_key=row.storage_key,
        )
        purged.append(sid)
    _log_sweep(sessions, now, purged)
    return purged


def _refused(
    session: Session, row: ArchivedRecording, refusals: list[Refusal], stamp: datetime
) -> None:
    """The storage refused: audit it, and wait for the storage's own date before trying again.

    The database said the date had passed but the storage's lock says otherwise (a clock or a
    row that is wrong, or a hold set on the bucket): the storage wins, and no sweep hammers it.
    """
    dates = [r.retain_until for r in refusals if r.retain_until is not None]
    held = any(r.legal_hold for r in refusals)
    retry_at = max([*dates, stamp + timedelta(days=1) if held else stamp])
    session.add(
        AuditLog(
            at=stamp,
            actor="system",
            action="purge_refused",
            recording_sid=row.recording_sid,
            detail={
                "reason": "retention",
                "db_retain_until": _iso(row.retain_until),
                "next_attempt": _iso(retry_at),
                "refused": [r.public() for r in refusals],
            },
        )
    )
    log.warning(
        "retention.refused_by_storage",
        recording_sid=row.recording_sid,
        versions=len(refusals),
        storage_retain_until=_iso(max(dates) if dates else None),
        legal_hold=held,
    )
    row.retain_until = retry_at
    row.updated_at = stamp
    session.commit()


def _log_sweep(sessions: sessionmaker[Session], now: datetime, purged: list[str]) -> None:
    # One line per sweep, so an operator sees retention run even when it had nothing to do,
    # and how many expired recordings a legal hold kept.
    with sessions() as session:
        held = session.scalar(
            select(func.count())
            .select_from(ArchivedRecording)
            .where(
                ArchivedRecording.retain_until.is_not(None),
                ArchivedRecording.retain_until <= now,
                ArchivedRecording.legal_hold.is_(True),
                ArchivedRecording.purged_at.is_(None),
            )
        )
    log.info("retention.swept", purged=len(purged), kept_by_legal_hold=int(held or 0))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
