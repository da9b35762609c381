"""Keeping what the card-data stage decided: the redacted transcript, its search text, the
detections, one audit row and one metric per detection.

Written in one transaction, replacing what an earlier attempt of the same recording wrote (the
archive job may run twice), before the redacted audio is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from flexrec.archive.audit_chain import AuditLog
from flexrec.pci.models import CardDetection, Transcript, TranscriptText
from flexrec.pci.stage import StageResult

SYSTEM_ACTOR = "system"
AUDIT_ACTION = "card_data_silenced"

DETECTIONS = Counter(
    "flexrec_card_data_detections",
    "Card data found in recordings and silenced before archiving, by kind and channel",
    ["kind", "channel"],
)
STAGE_SECONDS = Counter(
    "flexrec_card_data_stage_cpu_seconds",
    "CPU seconds spent by the card-data stage, by step (transcribe, detect_redact)",
    ["step"],
)
STAGE_AUDIO_SECONDS = Counter(
    "flexrec_card_data_stage_audio_seconds", "Seconds of recordings the card-data stage read"
)


def transcript_document(
    sessions: Callable[[], Session], recording_sid: str
) -> dict[str, Any] | None:
    """The recording's transcript as the archive seals it (card data already `[card number]`),
    or None when it has none."""
    with sessions() as session:
        row = session.scalars(
            select(Transcript).where(Transcript.recording_sid == recording_sid)
        ).one_or_none()
        if row is None:
            return None
        return {"recording_sid": recording_sid, "engine": row.engine, "words": row.words}


def save_result(
    session: Session,
    recording_sid: str,
    result: StageResult,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Replace the recording's transcript and detections with `result` (caller commits)."""
    now = clock()
    session.execute(delete(Transcript).where(Transcript.recording_sid == recording_sid))
    session.execute(delete(TranscriptText).where(TranscriptText.recording_sid == recording_sid))
    fresh = (
        session.query(CardDetection).filter(CardDetection.recording_sid == recording_sid).count()
        == 0
    )
    session.execute(delete(CardDetection).where(CardDetection.recording_sid == recording_sid))
    session.add(
        Transcript(
            recording_sid=recording_sid,
            engine=result.engine,
            words={
                str(channel): [[w.text, w.start_ms, w.end_ms] for w in words]
                for channel, words in result.transcript.items()
            },
            created_at=now,
        )
    )
    for channel, words in result.transcript.items():
        session.add(
            TranscriptText(
                recording_sid=recording_sid,
                channel=channel,
                text=" ".join(w.text for w in words if not w.text.startswith("[")),
            )
        )
    for detection in result.detections:
        session.add(
            CardDetection(
                recording_sid=recording_sid,
                kind=detection.kind,
                channel=detection.channel,
                start_ms=detection.start_ms,
                end_ms=detection.end_ms,
                rule=detection.rule,
                digit_count=detection.digit_count,
                silenced_at=now,
            )
        )
        if fresh:
            session.add(
                AuditLog(
                    at=now,
                    actor=SYSTEM_ACTOR,
                    action=AUDIT_ACTION,
                    recording_sid=recording_sid,
                    detail={**detection.public(), "mode": result.mode, "engine": result.engine},
                )
            )
            DETECTIONS.labels(detection.kind, str(detection.channel)).inc()
    for step, seconds in result.cpu_s.items():
        STAGE_SECONDS.labels(step).inc(seconds)
    STAGE_AUDIO_SECONDS.inc(result.audio_s)
