"""Pause gaps of a recording, placed on the recording's own timeline from `pause_events`.

With Twilio's `silence` pause behaviour the paused time is in the file as silence, so a gap is a
span. With `skip` the paused audio is left out, so each gap shrinks to a point where the file
jumps, and later gaps move earlier by the paused time before them. The console draws them on
the player; the card-data stage (`flexrec.pci`) reads them before the file is kept, where a
`skip` pause leaves no silence to find and a recording that starts paused looks like one that
began quiet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording, RecordingAnalysis
from flexrec.db.models import PauseEvent, RecordingRecord


@dataclass(frozen=True)
class PauseGap:
    """A paused stretch on the recording's timeline (milliseconds from its start)."""

    start_ms: int
    end_ms: int
    paused_ms: int  # wall-clock time the recording was paused


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def pause_gaps(
    events: Sequence[PauseEvent],
    started_at: datetime,
    duration_ms: int | None,
    behavior: str = "silence",
) -> list[PauseGap]:
    """Turn pause/resume events into gaps; an unmatched pause runs to the end of the file.

    Gaps wholly before the start or after the end are dropped: they come from events on
    another clock (a simulator's accelerated time), and drawing them anywhere would mislead.
    """
    start = _aware(started_at)
    gaps: list[PauseGap] = []
    skipped_ms = 0
    paused_at: datetime | None = None

    def close(since: datetime, until_ms: int | None) -> None:
        nonlocal skipped_ms
        raw_begin = int((_aware(since) - start).total_seconds() * 1000)
        begin = max(0, raw_begin)
        end = until_ms if until_ms is not None else max(duration_ms or begin, begin) + skipped_ms
        end = max(begin, end)
        if end <= 0 or (duration_ms is not None and raw_begin - skipped_ms >= duration_ms):
            return
        if behavior == "skip":
            point = begin - skipped_ms
            gaps.append(PauseGap(point, point, end - begin))
            skipped_ms += end - begin
        else:
            if duration_ms is not None:
                begin, end = min(begin, duration_ms), min(end, duration_ms)
            gaps.append(PauseGap(begin, end, end - begin))

    for event in sorted(events, key=lambda e: _aware(e.created_at)):
        if event.action == "pause" and event.result == "paused" and paused_at is None:
            paused_at = event.created_at
        elif event.action == "resume" and event.result == "recording" and paused_at is not None:
            close(paused_at, int((_aware(event.created_at) - start).total_seconds() * 1000))
            paused_at = None
    if paused_at is not None:
        close(paused_at, None)
    return gaps


def _recording_start(session: Session, rec: ArchivedRecording) -> datetime | None:
    if rec.recording_started_at is not None:
        return rec.recording_started_at
    # The recording service keeps Twilio's StartTime (epoch ms) when the archive row lacks it.
    start_ms = session.scalar(
        select(RecordingRecord.start_time_ms).where(RecordingRecord.sid == rec.recording_sid)
    )
    return None if start_ms is None else datetime.fromtimestamp(start_ms / 1000, UTC)


def _spans(value: Any) -> list[PauseGap] | None:
    if not isinstance(value, list):
        return None
    try:
        return [PauseGap(int(a), int(b), int(b) - int(a)) for a, b in value if int(b) >= int(a)]
    except (TypeError, ValueError):
        return None


def recording_pause_gaps(
    session: Session,
    rec: ArchivedRecording,
    behavior: str = "silence",
    analysis: RecordingAnalysis | None = None,
) -> list[PauseGap]:
    """The pause gaps of one recording: the archive's spans, the analysis', else pause_events."""
    # Spans already on the file's own timeline (ms from its start) need no clock arithmetic.
    for stored in (
        rec.paused_ms,
        (analysis.metrics or {}).get("paused_spans") if analysis else None,
    ):
        spans = _spans(stored)
        if spans:
            return spans
    return _event_gaps(session, rec, behavior, rec.duration_ms)


def _event_gaps(
    session: Session, rec: ArchivedRecording, behavior: str, duration_ms: int | None
) -> list[PauseGap]:
    started_at = _recording_start(session, rec)
    if started_at is None:
        return []
    task_sids = list(rec.task_sids or [])
    # Events written before the recording SID was known carry only the task SID.
    match = PauseEvent.recording_sid == rec.recording_sid
    if task_sids:
        match = or_(
            match,
            (PauseEvent.recording_sid.is_(None)) & PauseEvent.task_sid.in_(task_sids),
        )
    events = session.scalars(select(PauseEvent).where(match)).all()
    return pause_gaps(events, started_at, duration_ms, behavior)


def downloaded_pause_spans(
    session: Session, recording_sid: str, behavior: str, duration_ms: int
) -> list[tuple[int, int] | tuple[int, int, int]]:
    """Where flexrec's own pause events place pauses on a downloaded file (`duration_ms` long),
    before the archive row knows its duration: spans with `silence`, points with `skip`, each
    point with the paused time it left out (the talk either side is that far apart)."""
    rec = session.scalars(
        select(ArchivedRecording).where(ArchivedRecording.recording_sid == recording_sid)
    ).first()
    if rec is None:
        return []
    gaps = _spans(rec.paused_ms) or _event_gaps(session, rec, behavior, duration_ms)
    return [
        (g.start_ms, g.end_ms, g.paused_ms)
        if g.start_ms == g.end_ms and g.paused_ms > 0
        else (g.start_ms, g.end_ms)
        for g in gaps
    ]
