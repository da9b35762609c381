"""Conversation analysis and waveform peaks of archived recordings, stored once per recording."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flexrec.analysis.frames import digital_silence, frame_stats
from flexrec.archive import media
from flexrec.archive.analysis_rows import (
    analysis_entry_point,
    analysis_labels,
    analysis_values,
    mono_values,
)
from flexrec.archive.deps import ArchiveDeps
from flexrec.archive.errors import ArchiveError
from flexrec.archive.models import (
    ANALYSIS_SETTLED,
    DONE_STATES,
    ArchivedRecording,
    RecordingAnalysis,
    SealedObject,
)
from flexrec.archive.reader import MediaReader
from flexrec.archive.rows import row_paused
from flexrec.archive.seal import (
    analysis_document,
    document_body,
    seal_document,
    sealable_row,
    store_document,
)
from flexrec.archive.waveform import encode_waveform

log = structlog.get_logger(__name__)

SEALED_STATES = frozenset({"done", "mono"})
"""Analysis states whose document is sealed in the archive (a failed one has nothing to keep)."""


@dataclass(frozen=True)
class MediaAnalysis:
    """What the analysis job computes from a recording's bytes; `values` None when it failed.

    `state` is the analysis row's: `done`, or `mono` when one channel holds both sides.
    """

    waveform: bytes
    paused: list[tuple[int, int]]
    values: dict[str, Any] | None
    error: str | None = None
    state: str = "done"


def analyse_media(
    data: bytes | memoryview, labels: tuple[str, ...], paused: list[tuple[int, int]]
) -> MediaAnalysis:
    """Waveform, pauses and conversation analysis of a recording's WAV, with no I/O.

    The samples are read once, in place (a mapped file's pages as they are): one pass gives
    the waveform, the digital silence (pauses) and the frame powers the detector works from.
    Nothing returned refers to `data`.
    """
    analyse_frames = analysis_entry_point("analyse_frame_power")  # ArchiveError without it
    samples, rate = media.pcm16(data)
    stats = frame_stats(samples, rate)
    waveform = encode_waveform(stats)
    spans = list(paused)
    try:
        spans = media.merge_spans(
            spans, digital_silence(samples, stats, media.DIGITAL_SILENCE_MIN_MS)
        )
        if stats.channels == 1:
            # One channel mixes both sides: talk and silence are measured, who spoke is not.
            mono = analysis_entry_point("analyse_mono_power")(
                stats.power[0], stats.duration_ms, paused=tuple(spans)
            )
            return MediaAnalysis(waveform, spans, mono_values(mono), state="mono")
        if stats.channels != 2:
            raise ValueError(f"analysis needs two channels, the media has {stats.channels}")
        result = analyse_frames(
            stats.power, stats.duration_ms, channels=labels, paused=tuple(spans)
        )
        return MediaAnalysis(waveform, spans, analysis_values(result))
    except Exception as exc:
        return MediaAnalysis(waveform, spans, None, f"{type(exc).__name__}: {exc}"[:2000])


class Analyses:
    """Analyses archived media (once, idempotent) and keeps the console's waveform peaks."""

    def __init__(self, deps: ArchiveDeps, reader: MediaReader) -> None:
        self.deps = deps
        self.reader = reader

    def analyse(self, recording_sid: str) -> RecordingAnalysis:
        """Run conversation analysis on the archived media, store it and seal it (idempotent).

        A mono recording gets a `mono` row with what one channel tells (talk, silence). One
        that cannot be analysed (more channels, or the analysis raised) gets a `failed` row
        with the reason, and `ArchiveError` is raised; the reconciler retries neither (call
        `analyse` again after a fix). A storage failure while sealing raises `StorageError`.
        """
        with self.deps.sessions() as session:
            existing = self.find(session, recording_sid)
            if existing is not None and existing.state in SEALED_STATES:
                # Saved before a crash that came before its seal: sealing is idempotent.
                self.seal(existing)
                return existing
            archived = self.deps.find(session, recording_sid)
        row = self.reader.playable_row(recording_sid, archived)
        with self.reader.media_view(row) as data:
            found = analyse_media(data, analysis_labels(row.channel_labels), row_paused(row))
        waveform, paused, values = found.waveform, found.paused, found.values
        if values is None:
            reason = found.error or "analysis failed"

            def record_failure(analysis: RecordingAnalysis) -> None:
                analysis.state = "failed"
                analysis.last_error = reason
                analysis.waveform = waveform

            self.save(recording_sid, record_failure)
            log.warning("archive.analysis_failed", recording_sid=recording_sid, error=reason)
            raise ArchiveError(f"analysis of {recording_sid} failed: {reason}")

        def record(analysis: RecordingAnalysis) -> None:
            for name, value in values.items():
                setattr(analysis, name, value)
            analysis.waveform = waveform
            # Where the pauses were, so the console can draw them (the metrics hold only totals).
            analysis.metrics = {
                **(analysis.metrics or {}),
                "paused_spans": [[int(a), int(b)] for a, b in paused],
            }
            analysis.duration_ms = analysis.duration_ms or row.duration_ms
            analysis.state = found.state
            analysis.last_error = None
            analysis.analysed_at = self.deps.clock()

        # The transcript first, then the analysis saved and sealed in one transaction: a sealed
        # analysis marks the recording finished.
        self.seal_transcript(recording_sid)
        return self.save(recording_sid, record, sealed=True)

    def seal(self, analysis: RecordingAnalysis) -> None:
        """Store and seal the analysis beside its audio, and the transcript where card checking
        made one.

        The transcript goes first: a sealed analysis is what marks the recording finished, so a
        crash between the two seals leaves it on the reconciler's list (`unanalysed`).
        """
        self.seal_transcript(analysis.recording_sid)
        seal_document(self.deps, analysis.recording_sid, "analysis", analysis_document(analysis))

    def seal_transcript(self, recording_sid: str) -> None:
        """Store and seal the recording's transcript, where card checking made one."""
        read_transcript = self.deps.transcripts
        transcript = read_transcript(recording_sid) if read_transcript else None
        if transcript is not None:
            seal_document(self.deps, recording_sid, "transcript", transcript)

    def save(
        self,
        recording_sid: str,
        update: Callable[[RecordingAnalysis], None],
        *,
        sealed: bool = False,
    ) -> RecordingAnalysis:
        """Create or update the analysis row; a concurrent insert is retried as an update.

        `sealed`: its document is stored and sealed in the same transaction (unless the
        recording's media is gone meanwhile), so the row is never saved unsealed.
        """
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
                    row = sealable_row(self.deps, session, recording_sid) if sealed else None
                    if row is not None:
                        body = document_body(analysis_document(analysis))
                        store_document(self.deps, session, row, "analysis", body)
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return analysis
        raise ArchiveError(f"could not save the analysis of {recording_sid}")

    def waveform(self, recording_sid: str) -> bytes:
        """The console's waveform (`flexrec.archive.waveform`), computed once and kept with the
        analysis."""
        with self.deps.sessions() as session:
            analysis = self.find(session, recording_sid)
            if analysis is not None and analysis.waveform:
                return analysis.waveform
        samples, rate = media.pcm16(self.reader.read_media(recording_sid))
        waveform = encode_waveform(frame_stats(samples, rate))

        def record(analysis: RecordingAnalysis) -> None:
            analysis.waveform = waveform

        self.save(recording_sid, record)
        return waveform

    @staticmethod
    def find(session: Session, recording_sid: str) -> RecordingAnalysis | None:
        """The recording's analysis row in `session`, if any."""
        return session.scalars(
            select(RecordingAnalysis).where(RecordingAnalysis.recording_sid == recording_sid)
        ).one_or_none()

    def unanalysed(self, limit: int = 100) -> list[str]:
        """Archived recordings never analysed, or analysed but not sealed (oldest first); failed
        analyses are not retried."""
        sealed = select(SealedObject.recording_sid).where(SealedObject.kind == "analysis")
        done = select(RecordingAnalysis.recording_sid).where(
            RecordingAnalysis.state.in_(sorted(ANALYSIS_SETTLED)),
            # A kill -9 between saving an analysis and sealing it leaves it settled but unsealed.
            RecordingAnalysis.state.not_in(sorted(SEALED_STATES))
            | RecordingAnalysis.recording_sid.in_(sealed),
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
