"""Pause gaps of a recording, placed on the recording's own timeline from `pause_events`.

With Twilio's `silence` pause behaviour the paused time is in the file as silence, so a gap is a
span. With `skip` the paused audio is left out, so each gap shrinks to a point where the file
jumps, and later gaps move earlier by the paused time before them. The console draws them on
the player; the card-data stage (`flexrec.pci`) reads them before the file is kept, where a
`skip` pause leaves no silence to find and a recording that starts paused looks like one that
began quiet.

Where a `skip` point falls in the file is only as exact as the clocks behind it. Placed from
Twilio's StartTime (whole seconds, so the recording began up to a second after it) and each
event's `created_at` (written after Twilio's answer), a point is late by up to a second and
the answer's way back.
Where flexrec's own requests bound every moment involved (the create's send and answer bound
the recording's start; each pause's and resume's send and answer bound when Twilio applied it,
flexrec.recording.pause_result), the point is placed at the latest moment those bounds allow
and carries how much earlier it may be (`PauseGap.late_ms`): the requests' round trips, not a
second. All those bounds are on flexrec's clock, the one the events are written on; StartTime,
on Twilio's, is the check: a create answered more than `CLOCKS_DISAGREE_MS` away from its
StartTime's second (an accelerated simulator, a wrong row) leaves the bounds unused. A point
with any moment unbounded (a pause made before this change, a request whose process was
killed, a recording flexrec adopted), or bounds wider than `LATE_MAX_MS`, is placed as before,
with `late_ms` None: the stage then allows its fixed allowance (`pci.call_clock.POINT_LATE_MS`).
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

# Bounds wider than this come from a request that took unusually long or from a killed
# process's unanswered one (pause_result): the point is then placed as without bounds.
LATE_MAX_MS = 2000
# A create answered further than this from its StartTime's second: the clocks are not one.
CLOCKS_DISAGREE_MS = 1000

# A moment on flexrec's clock, epoch ms: the earliest and latest it may have been.
Bounds = tuple[int, int]


@dataclass(frozen=True)
class PauseGap:
    """A paused stretch on the recording's timeline (milliseconds from its start); a `skip`
    point placed from bounded requests says how much earlier it may be (`late_ms`)."""

    start_ms: int
    end_ms: int
    paused_ms: int  # wall-clock time the recording was paused
    late_ms: int | None = None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _ms(value: datetime) -> int:
    return int(_aware(value).timestamp() * 1000)


def _event_bounds(event: PauseEvent) -> Bounds | None:
    if event.sent_at is None or event.answered_at is None:
        return None
    return _ms(event.sent_at), _ms(event.answered_at)


def start_bounds(
    started_at: datetime, sent_ms: int | None, answered_ms: int | None
) -> Bounds | None:
    """When the recording began, from its create's send and answer, checked against StartTime
    (`started_at`, a whole second on Twilio's clock); None when not known or not agreeing."""
    if sent_ms is None or answered_ms is None or answered_ms < sent_ms:
        return None
    second = _ms(started_at)
    if answered_ms < second - CLOCKS_DISAGREE_MS or sent_ms > second + 1000 + CLOCKS_DISAGREE_MS:
        return None
    return sent_ms, answered_ms


def pause_gaps(
    events: Sequence[PauseEvent],
    started_at: datetime,
    duration_ms: int | None,
    behavior: str = "silence",
    started: Bounds | None = None,
) -> list[PauseGap]:
    """Turn pause/resume events into gaps; an unmatched pause runs to the end of the file
    (`started`: when the recording began, from its create, `start_bounds`).

    Gaps wholly before the start or after the end are dropped: they come from events on
    another clock (a simulator's accelerated time), and drawing them anywhere would mislead.
    """
    start = _aware(started_at)
    gaps: list[PauseGap] = []
    skipped_ms = 0
    # The time skipped before the next point, at its least and most; None once a moment in it
    # is unbounded.
    skipped_range: tuple[int, int] | None = (0, 0)
    paused: PauseEvent | None = None

    def placed(pause: Bounds | None, begin: int) -> tuple[int, int | None]:
        """A skip point's place in the file: the latest its bounds allow, and how much earlier
        it may be; else `begin` (from the event's row) with no bound."""
        if pause is None or started is None or skipped_range is None:
            return begin, None
        latest = pause[1] - started[0] - skipped_range[0]
        earliest = pause[0] - started[1] - skipped_range[1]
        if latest - earliest > LATE_MAX_MS or latest < 0:
            return begin, None
        return latest, latest - earliest

    def close(since: PauseEvent, until: PauseEvent | None) -> None:
        nonlocal skipped_ms, skipped_range
        raw_begin = _ms(since.created_at) - _ms(start)
        begin = max(0, raw_begin)
        until_ms = None if until is None else _ms(until.created_at) - _ms(start)
        end = until_ms if until_ms is not None else max(duration_ms or begin, begin) + skipped_ms
        end = max(begin, end)
        if end <= 0 or (duration_ms is not None and raw_begin - skipped_ms >= duration_ms):
            return
        if behavior == "skip":
            pause, resume = _event_bounds(since), None if until is None else _event_bounds(until)
            point, late = placed(pause, begin - skipped_ms)
            gaps.append(PauseGap(point, point, end - begin, late))
            skipped_ms += end - begin
            if pause is None or resume is None or skipped_range is None:
                skipped_range = None
            else:
                least, most = skipped_range
                skipped_range = (
                    least + max(0, resume[0] - pause[1]),
                    most + resume[1] - pause[0],
                )
        else:
            if duration_ms is not None:
                begin, end = min(begin, duration_ms), min(end, duration_ms)
            gaps.append(PauseGap(begin, end, end - begin))

    for event in sorted(events, key=lambda e: _aware(e.created_at)):
        if event.action == "pause" and event.result == "paused" and paused is None:
            paused = event
        elif event.action == "resume" and event.result == "recording" and paused is not None:
            close(paused, event)
            paused = None
    if paused is not None:
        close(paused, None)
    return gaps


def _recording_start(
    session: Session, rec: ArchivedRecording
) -> tuple[datetime | None, Bounds | None]:
    """StartTime, and when the recording began as its create bounds it (checked against it)."""
    # The recording service keeps Twilio's StartTime (epoch ms) when the archive row lacks it,
    # and the create's send and answer when flexrec made the recording.
    row = session.execute(
        select(
            RecordingRecord.start_time_ms,
            RecordingRecord.create_sent_ms,
            RecordingRecord.create_answered_ms,
        ).where(RecordingRecord.sid == rec.recording_sid)
    ).first()
    started_at = rec.recording_started_at
    if started_at is None and row is not None and row.start_time_ms is not None:
        started_at = datetime.fromtimestamp(row.start_time_ms / 1000, UTC)
    if started_at is None or row is None:
        return started_at, None
    return started_at, start_bounds(started_at, row.create_sent_ms, row.create_answered_ms)


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
    started_at, started = _recording_start(session, rec)
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
    return pause_gaps(events, started_at, duration_ms, behavior, started)


def downloaded_pause_spans(
    session: Session, recording_sid: str, behavior: str, duration_ms: int
) -> list[tuple[int, int] | tuple[int, int, int] | tuple[int, int, int, int]]:
    """Where flexrec's own pause events place pauses on a downloaded file (`duration_ms` long),
    before the archive row knows its duration: spans with `silence`, points with `skip`, each
    point with the paused time it left out (the talk either side is that far apart) and, when
    its requests bound it, how much earlier than the point it may be (`PauseGap.late_ms`)."""
    rec = session.scalars(
        select(ArchivedRecording).where(ArchivedRecording.recording_sid == recording_sid)
    ).first()
    if rec is None:
        return []
    gaps = _spans(rec.paused_ms) or _event_gaps(session, rec, behavior, duration_ms)
    return [file_pause(g) for g in gaps]


def file_pause(gap: PauseGap) -> tuple[int, int] | tuple[int, int, int] | tuple[int, int, int, int]:
    """A gap as the card-data stage takes it: a span, a point with its skipped time, and its
    bound when known (`flexrec.pci.stage.Pause`)."""
    if gap.start_ms != gap.end_ms or gap.paused_ms <= 0:
        return gap.start_ms, gap.end_ms
    if gap.late_ms is None:
        return gap.start_ms, gap.end_ms, gap.paused_ms
    return gap.start_ms, gap.end_ms, gap.paused_ms, gap.late_ms
