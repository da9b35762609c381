"""The console's reads: the recordings list (filtered, sorted and paged in SQL) and one call.

Agents see a recording when it is theirs: the archive row names their worker, or one of their
reservations (accepted or later) belongs to the task that made it. Supervisors see everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    String,
    and_,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from flexrec.accounts.principal import Principal
from flexrec.archive import visibility
from flexrec.archive.models import DONE_STATES, ArchivedRecording, RecordingAnalysis

# Reservation states in which the worker actually took the call.
MAX_PAGE_SIZE = 200


class RecordingNotFound(LookupError):
    """No archived recording has that SID."""


class RecordingForbidden(PermissionError):
    """The signed-in agent did not take this call."""


@dataclass(frozen=True)
class RecordingFilters:
    """Search, filters, sort and page of the recordings list (None = no constraint)."""

    q: str | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    agent: str | None = None
    queue: str | None = None
    direction: str | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    min_talk_ratio: float | None = None
    max_talk_ratio: float | None = None
    min_silence_pct: float | None = None
    max_silence_pct: float | None = None
    min_cross_talk_pct: float | None = None
    max_cross_talk_pct: float | None = None
    min_interruptions: int | None = None
    max_interruptions: int | None = None
    sort: str = "-started_at"
    page: int = 1
    page_size: int = 25


@dataclass(frozen=True)
class RecordingPage:
    """One page of the list, with the total count matching the filters."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int
    filters: dict[str, Any] = field(default_factory=dict)


_started = func.coalesce(ArchivedRecording.recording_started_at, ArchivedRecording.created_at)
_duration_ms = func.coalesce(ArchivedRecording.duration_ms, RecordingAnalysis.duration_ms)
_silence_pct = (
    cast(RecordingAnalysis.silence_ms, Float)
    * 100.0
    / func.nullif(RecordingAnalysis.duration_ms, 0)
)
_cross_talk_pct = (
    cast(RecordingAnalysis.cross_talk_ms, Float)
    * 100.0
    / func.nullif(RecordingAnalysis.duration_ms, 0)
)
_interruptions = func.coalesce(RecordingAnalysis.interruptions_by_agent, 0) + func.coalesce(
    RecordingAnalysis.interruptions_by_customer, 0
)

SORT_KEYS: dict[str, Any] = {
    "started_at": _started,
    "duration": _duration_ms,
    "agent": ArchivedRecording.agent_identity,
    "queue": ArchivedRecording.queue_name,
    "direction": ArchivedRecording.direction,
    "talk_ratio": RecordingAnalysis.talk_to_listen_ratio,
    "silence": _silence_pct,
    "cross_talk": _cross_talk_pct,
    "interruptions": _interruptions,
}
"""Sort keys the list accepts; prefix with `-` for descending."""


def visibility_clause(principal: Principal) -> ColumnElement[bool]:
    """SQL condition selecting the archived recordings this principal may see (the one rule in
    flexrec.archive.visibility)."""
    return visibility.visibility_clause(principal.worker_sid, (principal.role,))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _filtered(
    stmt: Select[ArchivedRecording, RecordingAnalysis], principal: Principal, f: RecordingFilters
) -> Select[ArchivedRecording, RecordingAnalysis]:
    conds: list[ColumnElement[bool]] = [visibility_clause(principal)]
    if f.q:
        pattern = _like(f.q.strip())
        searchable = (
            ArchivedRecording.recording_sid,
            ArchivedRecording.call_sid,
            ArchivedRecording.agent_identity,
            ArchivedRecording.worker_sid,
            ArchivedRecording.customer_number,
            ArchivedRecording.queue_name,
            cast(ArchivedRecording.task_sids, String),
        )
        matches = [
            func.lower(func.coalesce(col, "")).like(pattern, escape="\\") for col in searchable
        ]
        conds.append(or_(*matches))
    if f.date_from:
        conds.append(_started >= _day_start(f.date_from))
    if f.date_to:
        conds.append(_started < _day_start(f.date_to + timedelta(days=1)))
    if f.agent:
        conds.append(
            or_(
                func.lower(ArchivedRecording.agent_identity) == f.agent.strip().lower(),
                ArchivedRecording.worker_sid == f.agent.strip(),
            )
        )
    if f.queue:
        conds.append(func.lower(ArchivedRecording.queue_name) == f.queue.strip().lower())
    if f.direction:
        conds.append(ArchivedRecording.direction == f.direction)
    ranges: tuple[tuple[Any, float | None, float | None], ...] = (
        (
            _duration_ms,
            None if f.min_duration_s is None else f.min_duration_s * 1000,
            None if f.max_duration_s is None else f.max_duration_s * 1000,
        ),
        (RecordingAnalysis.talk_to_listen_ratio, f.min_talk_ratio, f.max_talk_ratio),
        (_silence_pct, f.min_silence_pct, f.max_silence_pct),
        (_cross_talk_pct, f.min_cross_talk_pct, f.max_cross_talk_pct),
        (_interruptions, f.min_interruptions, f.max_interruptions),
    )
    for column, low, high in ranges:
        if low is not None:
            conds.append(column >= low)
        if high is not None:
            conds.append(column <= high)
    return stmt.where(and_(*conds))


def _base() -> Select[ArchivedRecording, RecordingAnalysis]:
    return select(ArchivedRecording, RecordingAnalysis).outerjoin(
        RecordingAnalysis, RecordingAnalysis.recording_sid == ArchivedRecording.recording_sid
    )


def list_recordings(session: Session, principal: Principal, f: RecordingFilters) -> RecordingPage:
    """One page of the recordings the principal may see, matching the filters."""
    descending = f.sort.startswith("-")
    key = f.sort.lstrip("-")
    if key not in SORT_KEYS:
        raise ValueError(f"unknown sort key {key!r}; use one of {', '.join(SORT_KEYS)}")
    page_size = max(1, min(f.page_size, MAX_PAGE_SIZE))
    page = max(1, f.page)
    stmt = _filtered(_base(), principal, f)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    column = SORT_KEYS[key]
    order = column.desc() if descending else column.asc()
    # NULLs last either way (SQLite and PostgreSQL disagree by default), then a stable tiebreak.
    stmt = stmt.order_by(column.is_(None), order, ArchivedRecording.id.desc())
    rows = session.execute(stmt.limit(page_size).offset((page - 1) * page_size)).all()
    return RecordingPage([summary(rec, ana) for rec, ana in rows], total, page, page_size)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _pct(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 1)


def is_playable(rec: ArchivedRecording) -> bool:
    """True when the media is safely archived and not purged."""
    return rec.state in DONE_STATES and rec.purged_at is None


def summary(rec: ArchivedRecording, ana: RecordingAnalysis | None) -> dict[str, Any]:
    """The list row of one recording."""
    duration_ms = rec.duration_ms if rec.duration_ms is not None else (ana and ana.duration_ms)
    interruptions = None
    if ana is not None and (
        ana.interruptions_by_agent is not None or ana.interruptions_by_customer is not None
    ):
        interruptions = (ana.interruptions_by_agent or 0) + (ana.interruptions_by_customer or 0)
    return {
        "recording_sid": rec.recording_sid,
        "call_sid": rec.call_sid,
        "task_sids": list(rec.task_sids or []),
        "started_at": _iso(rec.recording_started_at or rec.created_at),
        "duration_ms": duration_ms,
        "agent": rec.agent_identity,
        "worker_sid": rec.worker_sid,
        "queue": rec.queue_name,
        "direction": rec.direction,
        "customer_number": rec.customer_number,
        "state": rec.state,
        "analysis": None if ana is None else ana.state,
        "playable": is_playable(rec),
        "talk_ratio": None if ana is None else ana.talk_to_listen_ratio,
        "silence_pct": None if ana is None else _pct(ana.silence_ms, ana.duration_ms),
        "cross_talk_pct": None if ana is None else _pct(ana.cross_talk_ms, ana.duration_ms),
        "interruptions": interruptions,
        "retain_until": _iso(rec.retain_until),
        "legal_hold": bool(rec.legal_hold),
        "purged_at": _iso(rec.purged_at),
    }


def hold_details(rec: ArchivedRecording) -> dict[str, Any]:
    """Who held the recording, when and why (for supervisors and admins only)."""
    return {
        "held_by": rec.legal_hold_by,
        "held_at": _iso(rec.legal_hold_at),
        "hold_reason": rec.legal_hold_reason,
    }


def get_visible_recording(
    session: Session, principal: Principal, recording_sid: str
) -> tuple[ArchivedRecording, RecordingAnalysis | None]:
    """The recording and its analysis; raises RecordingNotFound or RecordingForbidden."""
    row = session.execute(_base().where(ArchivedRecording.recording_sid == recording_sid)).first()
    if row is None:
        raise RecordingNotFound(recording_sid)
    allowed = session.scalar(
        select(func.count())
        .select_from(ArchivedRecording)
        .where(ArchivedRecording.recording_sid == recording_sid, visibility_clause(principal))
    )
    if not allowed:
        raise RecordingForbidden(recording_sid)
    return row[0], row[1]


def channel_roles(rec: ArchivedRecording) -> list[str]:
    """Speaker role of each WAV channel: "customer" or "agent" (Insights' "others" = agent)."""
    if rec.channels == 1:
        return ["mixed"]  # a mono recording: both sides in one channel
    labels = rec.channel_labels or ["customer", "others"]
    roles = ["customer" if label == "customer" else "agent" for label in labels]
    if len(roles) == 2 and roles[0] == roles[1]:
        roles = ["customer", "agent"]
    return roles


def analysis_metrics(ana: RecordingAnalysis | None) -> dict[str, Any] | None:
    """The metrics panel's figures for one analysis (None when not analysed yet).

    `state` is `done`, `mono` (one channel: talk, silence, longest speech and first words of
    either side; nobody to tell apart), `failed` or `pending`.
    """
    if ana is None:
        return None
    if ana.state == "mono":
        extra = ana.metrics or {}
        return {
            "state": "mono",
            "duration_ms": ana.duration_ms,
            "talk_ms": extra.get("talk_ms"),
            "silence_ms": ana.silence_ms,
            "silence_pct": _pct(ana.silence_ms, ana.duration_ms),
            "longest_speech_ms": extra.get("longest_speech_ms"),
            "first_words_ms": extra.get("first_words_ms"),
        }
    return {
        "state": ana.state,
        "duration_ms": ana.duration_ms,
        "agent_talk_ms": ana.agent_talk_ms,
        "customer_talk_ms": ana.customer_talk_ms,
        "silence_ms": ana.silence_ms,
        "silence_pct": _pct(ana.silence_ms, ana.duration_ms),
        "cross_talk_ms": ana.cross_talk_ms,
        "cross_talk_pct": _pct(ana.cross_talk_ms, ana.duration_ms),
        "interruptions_by_agent": ana.interruptions_by_agent,
        "interruptions_by_customer": ana.interruptions_by_customer,
        "talk_to_listen_ratio": ana.talk_to_listen_ratio,
        "longest_agent_monologue_ms": ana.longest_agent_monologue_ms,
        "longest_customer_monologue_ms": ana.longest_customer_monologue_ms,
        "time_to_first_agent_words_ms": ana.time_to_first_agent_words_ms,
    }


def speech_segments(ana: RecordingAnalysis | None) -> list[dict[str, Any]]:
    """Who-spoke-when segments, cleaned: channel agent|customer (mixed: a mono recording's
    speech of either side), start_ms < end_ms, sorted."""
    if ana is None:
        return []
    out: list[dict[str, Any]] = []
    for seg in ana.segments or []:
        try:
            # The analysis writes "speaker"; the archive model's comment says "channel".
            channel = str(seg.get("speaker") or seg["channel"])
            start, end = int(seg["start_ms"]), int(seg["end_ms"])
        except (KeyError, TypeError, ValueError):
            continue
        if channel in ("agent", "customer", "mixed") and end > start >= 0:
            out.append({"channel": channel, "start_ms": start, "end_ms": end})
    out.sort(key=lambda s: (s["start_ms"], s["channel"]))
    return out
