"""How long archived media is kept, per queue, and the sweep that deletes what has expired.

Policy file (TOML, `FLEXREC_POLICY_FILE`):

    [retention]
    default_days = 365          # omit or set 0 to keep forever
    [retention.by_queue]
    Sales = 90

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

from flexrec.archive.models import ArchivedRecording, AuditLog
from flexrec.archive.storage import BlobStore, StorageError

log = structlog.get_logger(__name__)


class RetentionPolicyError(ValueError):
    """The `[retention]` section is malformed."""


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep media, by queue name, with a default (None = forever)."""

    default_days: int | None = 365
    by_queue: Mapping[str, int | None] = field(default_factory=dict)

    def days_for(self, queue_name: str | None) -> int | None:
        """Days to keep a recording made in `queue_name`."""
        if queue_name is not None and queue_name in self.by_queue:
            return self.by_queue[queue_name]
        return self.default_days

    def retain_until(self, started_at: datetime, queue_name: str | None) -> datetime | None:
        """When a recording that started at `started_at` expires (None = never)."""
        days = self.days_for(queue_name)
        return None if days is None else started_at + timedelta(days=days)

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> RetentionPolicy:
        """Build a policy from the `[retention]` table."""
        unknown = set(section) - {"default_days", "by_queue"}
        if unknown:
            raise RetentionPolicyError(f"unknown retention settings: {sorted(unknown)}")
        default = _days(section.get("default_days", 365), "default_days")
        by_queue_raw = section.get("by_queue", {})
        if not isinstance(by_queue_raw, Mapping):
            raise RetentionPolicyError("retention.by_queue must be a table of queue = days")
        by_queue = {str(q): _days(d, f"by_queue.{q}") for q, d in by_queue_raw.items()}
        return cls(default_days=default, by_queue=by_queue)


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
            if row.storage_key:
                try:
                    store.delete(row.storage_key)
                except StorageError as exc:
                    log.warning("retention.delete_failed", recording_sid=sid, error=str(exc))
                    continue
            stamp = clock() if clock else now
            row.purged_at = stamp
            row.updated_at = stamp
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
