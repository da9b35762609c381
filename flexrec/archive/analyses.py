"""Conversation analysis and waveform peaks of archived recordings, stored once per recording."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flexrec.archive import media
from flexrec.archive.analysis_rows import analysis_entry_point, analysis_labels, analysis_values
from flexrec.archive.deps import ArchiveDeps
from flexrec.archive.errors import ArchiveError
from flexrec.archive.models import (
    ANALYSIS_SETTLED,
    DONE_STATES,
    ArchivedRecording,
    RecordingAnalysis,
)
from flexrec.archive.reader import MediaReader
from flexrec.archive.rows import row_paused

log = structlog.get_logger(__name__)


class Analyses:
    """Analyses archived media (once, idempotent) and keeps the console's waveform peaks."""

    def __init__(self, deps: ArchiveDeps, reader: MediaReader) -> None:
        self.deps = deps
        self.reader = reader

    def analyse(self, recording_sid: str) -> RecordingAnalysis:
        """Run conversation analysis on the archived media and store it (idempotent).

        A mono recording gets a `mono` row with what one channel tells (talk, silence). One
        that cannot be analysed (more channels, or the analysis raised) gets a `failed` row
        with the reason, and `ArchiveError` is raised; the reconciler retries neither (call
        `analyse` again after a fix).
        """
        with self.deps.sessions() as session:
            existing = self.find(session, recording_sid)
            if existing is not None and existing.state in ("done", "mono"):
                return existing
        row = self.reader.playable(recording_sid)
        audio, rate = media.decode_wav(self.reader.read_media(recording_sid))
        if audio.shape[1] == 1:
            return self._analyse_mono(row, audio, rate)
        labels = analysis_labels(row.channel_labels)
        peaks = media.compute_peaks(audio, rate, labels)
        analyse_recording = analysis_entry_point()
        try:
            if audio.shape[1] != 2:
                raise ValueError(f"analysis needs two channels, the media has {audio.shape[1]}")
            paused = media.merge_spans(row_paused(row), media.digital_silence_spans(audio, rate))
            result = analyse_recording(audio, rate, channels=labels, paused=tuple(paused))
            values = analysis_values(result)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:2000]

            def record_failure(analysis: RecordingAnalysis) -> None:
                analysis.state = "failed"
                analysis.last_error = reason
                analysis.peaks = peaks

            self.save(recording_sid, record_failure)
            log.warning("archive.analysis_failed", recording_sid=recording_sid, error=reason)
            raise ArchiveError(f"analysis of {recording_sid} failed: {reason}") from exc

        def record(analysis: RecordingAnalysis) -> None:
            for name, value in values.items():
                setattr(analysis, name, value)
            analysis.peaks = peaks
            # Where the pauses were, so the console can draw them (the metrics hold only totals).
            analysis.metrics = {
                **(analysis.metrics or {}),
                "paused_spans": [[int(a), int(b)] for a, b in paused],
            }
            analysis.duration_ms = analysis.duration_ms or row.duration_ms
            analysis.state = "done"
            analysis.last_error = None
            analysis.analysed_at = self.deps.clock()

        return self.save(recording_sid, record)

    def _analyse_mono(self, row: ArchivedRecording, audio: Any, rate: int) -> RecordingAnalysis:
        # One channel mixes both sides: talk and silence are measured, who spoke is not.
        peaks = media.compute_peaks(audio, rate, ("mixed",))
        paused = media.merge_spans(row_paused(row), media.digital_silence_spans(audio, rate))
        result = analysis_entry_point("analyse_mono")(audio, rate, paused=tuple(paused))

        def record(analysis: RecordingAnalysis) -> None:
            analysis.duration_ms = result.duration_ms or row.duration_ms
            analysis.silence_ms = result.silence_ms
            analysis.metrics = {
                "channels": 1,
                "talk_ms": result.talk_ms,
                "silence_ms": result.silence_ms,
                "paused_ms": result.paused_ms,
                "longest_speech_ms": result.longest_speech_ms,
                "first_words_ms": result.first_words_ms,
                "paused_spans": [[int(a), int(b)] for a, b in paused],
            }
            analysis.segments = [
                {"speaker": "mixed", "start_ms": s.start_ms, "end_ms": s.end_ms}
                for s in result.segments
            ]
            analysis.vad_config_version = result.vad_config_version
            analysis.peaks = peaks
            analysis.state = "mono"
            analysis.last_error = None
            analysis.analysed_at = self.deps.clock()

        log.info("archive.analysis_mono", recording_sid=row.recording_sid)
        return self.save(row.recording_sid, record)

    def save(
        self, recording_sid: str, update: Callable[[RecordingAnalysis], None]
    ) -> RecordingAnalysis:
        """Create or update the analysis row; a concurrent insert is retried as an update."""
        for _ in range(2):
            now = self.deps.clock()
            with self.deps.sessions() as session:
                analysis = self.find(session, recording_sid)
                if analysis is None:
                    analysis = RecordingAnalysis(
                        recording_sid=recording_sid, state="pending", created_at=now
                    )
                    session.add(analysis)
                update(analysis)
                analysis.updated_at = now
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return analysis
        raise ArchiveError(f"could not save the analysis of {recording_sid}")

    def peaks(self, recording_sid: str) -> dict[str, Any]:
        """Waveform peaks for the console, computed once and cached in `recording_analyses`."""
        with self.deps.sessions() as session:
            analysis = self.find(session, recording_sid)
            if analysis is not None and analysis.peaks:
                return analysis.peaks
        row = self.reader.playable(recording_sid)
        audio, rate = media.decode_wav(self.reader.read_media(recording_sid))
        peaks = media.compute_peaks(audio, rate, analysis_labels(row.channel_labels))

        def record(analysis: RecordingAnalysis) -> None:
            analysis.peaks = peaks

        self.save(recording_sid, record)
        return peaks

    @staticmethod
    def find(session: Session, recording_sid: str) -> RecordingAnalysis | None:
        """The recording's analysis row in `session`, if any."""
        return session.scalars(
            select(RecordingAnalysis).where(RecordingAnalysis.recording_sid == recording_sid)
        ).one_or_none()

    def unanalysed(self, limit: int = 100) -> list[str]:
        """Archived recordings never analysed (oldest first); failed analyses are not retried."""
        done = select(RecordingAnalysis.recording_sid).where(
            RecordingAnalysis.state.in_(sorted(ANALYSIS_SETTLED))
        )
        with self.deps.sessions() as session:
            return list(
                session.scalars(
                    select(ArchivedRecording.recording_sid)
                    .where(
                        ArchivedRecording.state.in_(sorted(DONE_STATES)),
                        ArchivedRecording.purged_at.is_(None),
                        ArchivedRecording.recording_sid.not_in(done),
                    )
                    .order_by(ArchivedRecording.archived_at)
                    .limit(limit)
                )
            )
