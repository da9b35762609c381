"""The card-data stage as the archive job's redactor: one call before anything is stored.

`make_redactor(settings, sessions, twilio_client)` builds the engine once and returns
`redact(recording_sid, wav) -> (wav to keep, report)`. The stage's outcome (redacted transcript,
detections, audit rows, metrics) is committed before the call returns, so the archive job stores
the redacted audio only after the record of what was removed exists. The report (source
hash, spans, engine, detections without digits) is what the archive's manifest keeps.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.seal import RedactionReport, Redactor
from flexrec.config import Settings
from flexrec.pci.detect import DetectorConfig
from flexrec.pci.stage import CardDataStage
from flexrec.pci.store import save_result
from flexrec.transcription.factory import build_transcriber
from flexrec.transcription.twilio_engine import TwilioTranscriber


def make_redactor(
    settings: Settings, sessions: sessionmaker[Session], twilio_client: Any = None
) -> Redactor:
    """The archive's card-data stage as configured (the engine is built here, once)."""
    config = settings.card_data
    detector = DetectorConfig.with_patterns(config.card_extra_rules)
    twilio: TwilioTranscriber | None = None
    if config.transcription_engine == "twilio":
        twilio = TwilioTranscriber(
            twilio_client,
            config.twilio_intelligence_service_sid,
            outside_pci_scope=config.twilio_transcription_outside_pci_scope,
        )
        stage = CardDataStage(None, detector, mode=config.card_redaction)
    else:
        stage = CardDataStage(
            build_transcriber(config),
            detector,
            mode=config.card_redaction,
            margin_ms=config.card_margin_ms,
        )

    def redact(recording_sid: str, wav: bytes) -> tuple[bytes, RedactionReport | None]:
        transcript = twilio.transcribe_recording(recording_sid) if twilio is not None else None
        result = stage.process(wav, transcript)
        with sessions() as session:
            save_result(session, recording_sid, result)
            session.commit()
        # Every recording gets a report, a clean one too: the manifest then shows it was checked.
        return result.kept_wav, RedactionReport(
            result.source_sha256, result.spans_ms, result.report_detail()
        )

    return redact
