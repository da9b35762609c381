"""The engine the settings name, built once (models load at start-up, not per recording)."""

from __future__ import annotations

from flexrec.config import CardDataSettings
from flexrec.transcription.base import EngineUnavailable, Transcriber
from flexrec.transcription.pocketsphinx_engine import PocketSphinxTranscriber
from flexrec.transcription.whisper_engines import FasterWhisperTranscriber, WhisperCppTranscriber


def build_transcriber(settings: CardDataSettings) -> Transcriber:
    """pocketsphinx (default), faster-whisper or whisper.cpp with the operator's model.

    The `twilio` engine transcribes by recording SID, not audio: `flexrec.pci.archive_stage`
    builds it itself.
    """
    engine = settings.transcription_engine
    if engine == "pocketsphinx":
        return PocketSphinxTranscriber()
    if settings.transcription_model is None:
        raise EngineUnavailable(f"{engine} needs FLEXREC_TRANSCRIPTION_MODEL (a local model)")
    if engine == "faster-whisper":
        return FasterWhisperTranscriber(settings.transcription_model)
    if engine == "whisper-cpp":
        return WhisperCppTranscriber(settings.transcription_model)
    raise EngineUnavailable(f"the {engine} engine is built by flexrec.pci.archive_stage")
