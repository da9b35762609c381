"""The card-data stage as the archive job's redactor: one call before anything is stored.

`make_redactor(settings, sessions, twilio_client)` returns `redact(recording_sid, wav) ->
(wav to keep, report)`. The stage runs in a child process of its own (built once, reused):
pocketsphinx holds the GIL while it decodes (a main thread measured stalled 1.2 s per speech
region), which in `flexrec serve` would hold up webhooks and start recordings late. The stage's
outcome (redacted transcript, detections, audit rows, metrics) is committed before the call
returns, so the archive job stores the redacted audio only after the record of what was removed
exists. The report (source hash, spans, engine, detections without digits) is what the
archive's manifest keeps. The recording's pauses come from flexrec's own pause events
(`flexrec.archive.pauses`): a `skip` pause leaves no silence in the file for the cut rule to
find, and a recording that starts paused looks like one that began quiet.
"""

from __future__ import annotations

import atexit
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.pauses import downloaded_pause_spans
from flexrec.archive.redaction import RedactionReport, Redactor
from flexrec.config import CardDataSettings, Settings
from flexrec.pci.detect import DetectorConfig
from flexrec.pci.redact import wav_duration_ms
from flexrec.pci.stage import CardDataStage, Pause, StageResult
from flexrec.pci.store import save_result
from flexrec.pci.webhook import CardDataWebhook
from flexrec.recording.policy import load_policy
from flexrec.transcription.factory import build_transcriber
from flexrec.transcription.twilio_engine import TwilioTranscriber

_CHILD_STAGE: CardDataStage | None = None


def _build_stage(config: CardDataSettings) -> CardDataStage:
    return CardDataStage(
        build_transcriber(config),
        DetectorConfig.with_patterns(config.card_extra_rules),
        mode=config.card_redaction,
        margin_ms=config.card_margin_ms,
    )


def _child_init(config: dict[str, Any]) -> None:
    global _CHILD_STAGE
    _CHILD_STAGE = _build_stage(CardDataSettings.model_validate(config))


def _child_process(wav: bytes, pauses_ms: list[Pause]) -> StageResult:
    assert _CHILD_STAGE is not None  # noqa: S101 - set by the pool's initializer
    return _CHILD_STAGE.process(wav, pauses_ms=pauses_ms)


class StageProcess:
    """The stage in one child process (spawned: no lock or thread of ours is inherited)."""

    def __init__(self, config: CardDataSettings) -> None:
        self.config = config.model_dump()
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        atexit.register(self.close)

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_child_init,
                    initargs=(self.config,),
                )
            return self._pool

    def process(self, wav: bytes, pauses_ms: list[Pause]) -> StageResult:
        """Run the stage on `wav` in the child (a crashed child is replaced once)."""
        try:
            return self._executor().submit(_child_process, wav, pauses_ms).result()
        except BrokenProcessPool:
            with self._lock:
                self._pool = None
            return self._executor().submit(_child_process, wav, pauses_ms).result()

    def close(self) -> None:
        """Stop the child."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


def make_redactor(
    settings: Settings,
    sessions: sessionmaker[Session],
    twilio_client: Any = None,
    webhook: CardDataWebhook | None = None,
) -> Redactor:
    """The archive's card-data stage as configured (the engine is built here, once); with a
    `webhook`, a call with card data gets its notice in the same transaction."""
    config = settings.card_data
    behavior = load_policy(settings.policy).pause_behavior
    detector = DetectorConfig.with_patterns(config.card_extra_rules)
    twilio: TwilioTranscriber | None = None
    if config.transcription_engine == "twilio":
        twilio = TwilioTranscriber(
            twilio_client,
            config.twilio_intelligence_service_sid,
            outside_pci_scope=config.twilio_transcription_outside_pci_scope,
        )
        stage = CardDataStage(
            None, detector, mode=config.card_redaction, margin_ms=config.card_margin_ms
        )
    else:
        build_transcriber(config)  # a missing engine or model fails at start-up, here
        child = StageProcess(config)

    def redact(recording_sid: str, wav: bytes) -> tuple[bytes, RedactionReport | None]:
        with sessions() as session:
            pauses = downloaded_pause_spans(session, recording_sid, behavior, wav_duration_ms(wav))
        if twilio is not None:
            result = stage.process(wav, twilio.transcribe_recording(recording_sid), pauses)
        else:
            result = child.process(wav, pauses)
        notice = None
        with sessions() as session:
            save_result(session, recording_sid, result)
            if webhook is not None and result.detections:
                notice = webhook.record(session, recording_sid)
            session.commit()
        if webhook is not None and notice is not None:
            webhook.announce(notice)  # queued, never awaited: the archive goes on
        # Every recording gets a report, a clean one too: the manifest then shows it was checked.
        return result.kept_wav, RedactionReport(
            result.source_sha256, result.spans_ms, result.report_detail()
        )

    return redact
