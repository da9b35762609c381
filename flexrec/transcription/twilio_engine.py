"""Twilio's own transcription (Conversational Intelligence), only outside PCI DSS scope.

Twilio's Conversational Intelligence is not PCI compliant, so audio may go to it only where
the operator states the account is outside PCI scope
(`FLEXREC_TWILIO_TRANSCRIPTION_OUTSIDE_PCI_SCOPE=true`); otherwise building this engine fails.
It transcribes a recording Twilio still holds (by its SID), so it runs before Twilio's copy
is deleted; its sentences carry per-word times and the channel they were heard on.
"""

from __future__ import annotations

import time
from typing import Any

from flexrec.transcription.base import EngineUnavailable, TranscriptionError, Word

POLL_S = 2.0
TIMEOUT_S = 600.0


class TwilioTranscriber:
    """Transcribes a whole recording through Twilio's Intelligence API (v2 Transcripts)."""

    name = "twilio"

    def __init__(
        self,
        client: Any,
        service_sid: str,
        *,
        outside_pci_scope: bool,
        sleep: Any = time.sleep,
    ) -> None:
        if not outside_pci_scope:
            raise EngineUnavailable(
                "Twilio's transcription is not PCI compliant: set "
                "FLEXREC_TWILIO_TRANSCRIPTION_OUTSIDE_PCI_SCOPE=true only if this account is "
                "outside PCI DSS scope, or use pocketsphinx or a Whisper engine"
            )
        if not service_sid.startswith("GA"):
            raise EngineUnavailable("FLEXREC_TWILIO_INTELLIGENCE_SERVICE_SID (GA...) is not set")
        self.client = client
        self.service_sid = service_sid
        self.sleep = sleep

    def transcribe_recording(self, recording_sid: str) -> dict[int, list[Word]]:
        """Words per channel (1, 2) of a recording Twilio holds."""
        intelligence = self.client.intelligence.v2
        try:
            transcript = intelligence.transcripts.create(
                service_sid=self.service_sid,
                channel={"media_properties": {"source_sid": recording_sid}},
            )
            waited = 0.0
            while transcript.status not in ("completed", "failed", "canceled"):
                if waited >= TIMEOUT_S:
                    raise TranscriptionError(f"Twilio transcript {transcript.sid} timed out")
                self.sleep(POLL_S)
                waited += POLL_S
                transcript = intelligence.transcripts(transcript.sid).fetch()
            if transcript.status != "completed":
                raise TranscriptionError(f"Twilio transcript {transcript.sid}: {transcript.status}")
            sentences = intelligence.transcripts(transcript.sid).sentences.list()
        except TranscriptionError:
            raise
        except Exception as exc:  # SDK and transport errors: the archive job retries
            raise TranscriptionError(f"Twilio transcription failed: {exc}") from exc
        out: dict[int, list[Word]] = {1: [], 2: []}
        for sentence in sentences:
            channel = int(getattr(sentence, "media_channel", 1) or 1)
            for word in getattr(sentence, "words", None) or []:
                text = str(word.get("word", "")).strip().lower()
                if text:
                    out.setdefault(channel, []).append(
                        Word(
                            text,
                            round(float(word.get("start_time", 0)) * 1000),
                            round(float(word.get("end_time", 0)) * 1000),
                            word.get("confidence"),
                        )
                    )
        return out
