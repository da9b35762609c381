"""Transcription of each recording channel, offline, by a pluggable engine.

`base` (the `Transcriber` protocol, `Word`, errors), `feed` (how telephone audio reaches an
engine: speech regions, 8 -> 16 kHz), one module per engine (`pocketsphinx_engine`,
`whisper_engines`, `twilio_engine`) and `factory.build_transcriber(settings)`.
"""

from flexrec.transcription.base import (
    EngineUnavailable,
    Transcriber,
    TranscriptionError,
    Word,
)

__all__ = ["EngineUnavailable", "Transcriber", "TranscriptionError", "Word"]
