"""The audit log read back: filters, pages and CSV, for the console's audit page and the admin API.

Also the one writer of the console's own entries (sign-ins, failed sign-ins, refused views),
each committed on its own session so a refused request's rollback never loses it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from flexrec.archive.audit_actions import UnknownAuditAction, audit_action_names
from flexrec.archive.audit_chain import AuditLog

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_OUT = "sign_out"
VIEW_REFUSED = "view_refused"
AUDIT_EXPORTED = "audit_exported"
CONSOLE_ACTIONS = (SIGN_IN, SIGN_IN_FAILED, SIGN_OUT, VIEW_REFUSED, AUDIT_EXPORTED)
"""Actions the console writes, beside the archive's (flexrec.archive.models.AUDIT_ACTIONS);
every name is documented in flexrec.archive.audit_actions."""

MAX_PAGE = 500
CSV_LIMIT = 100_000  # one export; a longer period is exported in pieces
CSV_COLUMNS = ("at", "actor", "action", "recording_sid", "ip", "actor_worker_sid", "detail")


@dataclass(frozen=True)
class AuditFilters:
    """Which entries to show: by user (exact), recording, action and time (UTC, [since, until))."""

    user: str | None = None
    recording_sid: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


def record_event(
    sessions: Callable[[], Session],
    action: str,
    actor: str,
    *,
    recording_sid: str | None = None,
    ip: str | None = None,
    worker_sid: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry and commit it on a session of its own."""
    with sessions() as session:
        session.add(
            AuditLog(
                at=datetime.now(UTC),
                actor=actor[:255],
                actor_worker_sid=worker_sid,
                action=action,
                recording_sid=recording_sid,
                ip=ip,
                detail=dict(detail or {}),
            )
        )
        session.commit()


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _where(f: AuditFilters) -> list[Any]:
    clauses: list[Any] = []
    if f.user:
        clauses.append(AuditLog.actor == f.user)
    if f.recording_sid:
        clauses.append(AuditLog.recording_sid == f.recording_sid)
    if f.action:
        clauses.append(AuditLog.action == f.action)
    if f.since is not None:
        clauses.append(AuditLog.at >= _utc(f.since))
    if f.until is not None:
        clauses.append(AuditLog.at < _utc(f.until))
    return clauses


def search(session: Session, f: AuditFilters) -> tuple[list[AuditLog], int]:
    """Entries matching the filters, newest first (a page of at most MAX_PAGE), and the total."""
    return search_all(session, AuditFilters(**{**f.__dict__, "limit": min(f.limit, MAX_PAGE)}))


def valid_actions(session: Session) -> tuple[str, ...]:
    """Action names a filter may use: every documented one, and any the log holds already."""
    return tuple(sorted({*audit_action_names(), *actions_in_use(session)}))


def search_all(session: Session, f: AuditFilters) -> tuple[list[AuditLog], int]:
    """Like `search` with no page cap below `f.limit` (exports).

    An action no entry can have raises `UnknownAuditAction` naming the valid ones: a typo
    must not read as "nothing happened".
    """
    if f.action:
        valid = valid_actions(session)
        if f.action not in valid:
            raise UnknownAuditAction(f.action, valid)
    where = _where(f)
    total = session.scalar(select(func.count()).select_from(AuditLog).where(*where)) or 0
    rows = session.scalars(
        select(AuditLog)
        .where(*where)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(f.limit)
        .offset(f.offset)
    ).all()
    return list(rows), int(total)


def actions_in_use(session: Session) -> list[str]:
    """Every action present in the log (for the page's filter list)."""
    return sorted(session.scalars(select(AuditLog.action).distinct()).all())


def _iso(value: datetime) -> str:
    aware = _utc(value)
    assert aware is not None  # noqa: S101 - `at` is never null
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def public(row: AuditLog) -> dict[str, Any]:
    """One entry as JSON."""
    return {
        "id": row.id,
        "at": _iso(row.at),
        "actor": row.actor,
        "actor_worker_sid": row.actor_worker_sid,
        "action": row.action,
        "recording_sid": row.recording_sid,
        "ip": row.ip,
        "detail": row.detail or {},
    }


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(
    sessions: Callable[[], Session],
    f: AuditFilters,
    actor: str,
    *,
    via: str,
    ip: str | None = None,
    worker_sid: str | None = None,
) -> str:
    """The filtered entries as CSV (up to `CSV_LIMIT`), the export itself audited as
    `audit_exported` with who, from where and which filters: the console, the admin API and
    `flexrec audit --csv` all export through here."""
    wide = AuditFilters(**{**f.__dict__, "limit": CSV_LIMIT})
    with sessions() as session:
        rows, total = search_all(session, wide)
        body = to_csv(rows)
    record_event(
        sessions,
        AUDIT_EXPORTED,
        actor,
        ip=ip,
        worker_sid=worker_sid,
        detail={"rows": len(rows), "matching": total, "filters": filters_text(f), "via": via},
    )
    return body


def filters_text(f: AuditFilters) -> dict[str, str]:
    """The filters of an export, for its own audit entry."""
    given = {
        "user": f.user,
        "recording": f.recording_sid,
        "action": f.action,
        "since": f.since.isoformat() if f.since else None,
        "until": f.until.isoformat() if f.until else None,
    }
    return {k: v for k, v in given.items() if v}


def to_csv(rows: Iterable[AuditLog]) -> str:
    """The entries as CSV (header first), safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        entry = public(row)
        entry["detail"] = json.dumps(entry["detail"], sort_keys=True, separators=(",", ":"))
        writer.writerow([_cell(entry[c]) for c in CSV_COLUMNS])
    return out.getvalue()
