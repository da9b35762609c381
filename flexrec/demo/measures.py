"""Figures the demo measures beyond the truth table: latency, archive progress, VAD accuracy."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from flexrec.analysis.scoring import frame_scores
from flexrec.archive.models import ArchivedRecording, RecordingAnalysis
from flexrec.db.base import make_engine, make_session_factory
from flexsim import SimRunner

ARCHIVED_STATES = ("stored", "verified", "deleted_from_twilio")


def webhook_to_api_latencies(sim: SimRunner) -> list[float]:
    """Per customer-leg recording: ms from the start of the webhook that led to it to its create.

    The service makes the Recording API call inside the webhook that reveals the leg (its fast
    path), so the create lands while that delivery is still open; recordings created later (from
    the retry queue, e.g. after an injected fault) have no enclosing delivery and are left out.
    """
    spans: list[tuple[float, float]] = []
    for entry in sim.webhook_log():
        if entry.get("outcome") != "sent" or entry.get("kind") not in ("taskrouter", "conference"):
            continue
        end = float(entry["at"])
        start = end - float(entry.get("elapsed_ms") or 0.0) / 1000.0
        spans.append((start, end))
    spans.sort()
    latencies: list[float] = []
    created = [
        r.created_wall
        for r in sim.recordings()
        if r.party == "customer" and r.source == "StartCallRecordingAPI"
    ]
    for moment in created:
        enclosing = [start for start, end in spans if start <= moment <= end]
        if enclosing:
            latencies.append((moment - max(enclosing)) * 1000.0)
    return latencies


def _sessions(database_url: str) -> Any:
    if database_url.startswith("sqlite:///") and not Path(database_url[10:]).exists():
        return None  # the service has not created its database yet
    return make_session_factory(make_engine(database_url))


def archive_figures(database_url: str) -> tuple[int, int]:
    """(archived, analysed) recordings in the service's database."""
    sessions = _sessions(database_url)
    if sessions is None:
        return 0, 0
    try:
        with sessions() as session:
            archived = session.scalar(
                select(func.count())
                .select_from(ArchivedRecording)
                .where(ArchivedRecording.state.in_(ARCHIVED_STATES))
            )
            analysed = session.scalar(
                select(func.count())
                .select_from(RecordingAnalysis)
                .where(RecordingAnalysis.state == "done")
            )
    except Exception:  # the service may still be creating its tables
        return 0, 0
    finally:
        sessions.kw["bind"].dispose()
    return int(archived or 0), int(analysed or 0)


# Where one recording stands on its way from Twilio to an analysis, as the demo reports it.
STAGE_UNKNOWN = "not noted by the service yet"  # its completed callback has not arrived
STAGE_ARCHIVING = "being archived"
STAGE_ANALYSING = "waiting for analysis"
SETTLED_STAGES = {
    "analysed": "analysed",
    "mono": "mono (talk and silence only)",
    "analysis_failed": "analysis failed",
    "archive_failed": "archive failed",
}


def recording_stages(database_url: str, recording_sids: Iterable[str]) -> dict[str, str]:
    """Each recording's stage: a key of `SETTLED_STAGES`, or one of the `STAGE_*` waits."""
    wanted = sorted(set(recording_sids))
    stages = dict.fromkeys(wanted, STAGE_UNKNOWN)
    sessions = _sessions(database_url)
    if sessions is None or not wanted:
        return stages
    try:
        with sessions() as session:
            rows = session.execute(
                select(ArchivedRecording.recording_sid, ArchivedRecording.state).where(
                    ArchivedRecording.recording_sid.in_(wanted)
                )
            ).all()
            analyses = dict(
                session.execute(
                    select(RecordingAnalysis.recording_sid, RecordingAnalysis.state).where(
                        RecordingAnalysis.recording_sid.in_(wanted)
                    )
                ).all()
            )
    except Exception:  # the service may still be creating its tables
        return stages
    finally:
        sessions.kw["bind"].dispose()
    for sid, state in rows:
        if state == "failed":
            stages[sid] = "archive_failed"
        elif state not in ARCHIVED_STATES:
            stages[sid] = STAGE_ARCHIVING
        else:
            analysis = analyses.get(sid) or ""
            stages[sid] = {"done": "analysed", "mono": "mono", "failed": "analysis_failed"}.get(
                analysis, STAGE_ANALYSING
            )
    return stages


def _predicted(row: RecordingAnalysis) -> dict[str, list[tuple[int, int]]]:
    segments = row.segments or (row.metrics or {}).get("segments") or []
    out: dict[str, list[tuple[int, int]]] = {"customer": [], "agent": []}
    for segment in segments:
        speaker = str(segment.get("speaker") or segment.get("channel") or "")
        if speaker in out:
            out[speaker].append((int(segment["start_ms"]), int(segment["end_ms"])))
    return out


def vad_accuracy(sim: SimRunner, database_url: str) -> tuple[float | None, float | None]:
    """Frame precision and recall of the service's speech detection against the simulator's truth.

    Pooled over every analysed customer-leg recording and both channels (channel 1 is the
    customer, channel 2 what the customer heard).
    """
    sessions = _sessions(database_url)
    if sessions is None:
        return None, None
    try:
        with sessions() as session:
            rows = list(session.scalars(select(RecordingAnalysis)))
    finally:
        sessions.kw["bind"].dispose()
    true_positive = predicted_total = truth_total = 0.0
    for row in rows:
        if row.duration_ms is None or row.state != "done":
            continue  # a mono recording has no per-side speech to score
        truth = sim.speech_truth(row.recording_sid)
        if truth is None:
            continue
        predicted = _predicted(row)
        for speaker, channel in (("customer", "channel1"), ("agent", "channel2")):
            precision, _recall = frame_scores(predicted[speaker], truth[channel], row.duration_ms)
            found = _frames(predicted[speaker], row.duration_ms)
            real = _frames(truth[channel], row.duration_ms)
            true_positive += precision * found
            predicted_total += found
            truth_total += real
    if not rows or predicted_total == 0 or truth_total == 0:
        return None, None
    return round(true_positive / predicted_total, 4), round(true_positive / truth_total, 4)


def _frames(segments: list[tuple[int, int]], duration_ms: int, frame_ms: int = 10) -> int:
    covered = 0
    for start, end in segments:
        covered += max(0, min(end, duration_ms) - max(0, start))
    return covered // frame_ms
