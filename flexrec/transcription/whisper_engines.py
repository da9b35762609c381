"""Whisper engines for operators who supply a model: faster-whisper and whisper.cpp.

Neither package nor any model ships with flexrec. `flexrec transcription install faster-whisper`
(`flexrec.transcription.install`) puts faster-whisper and Whisper tiny.en, pinned by hash, in
one folder: the model's files with the packages in its `python/` folder, which the engine adds to
the import path. Otherwise the operator installs faster-whisper or pywhispercpp
(`pip install faster-whisper`) and supplies a model. The model is a local folder
(faster-whisper's CTranslate2 conversion: `model.bin`, `config.json`, `tokenizer.json`...) or a
ggml file (whisper.cpp); nothing is downloaded, ever: a missing model is an error at start-up.
Audio goes in as 16 kHz float, whole channel (Whisper's own VAD filter skips silence), and word
timestamps come back per word.

Whisper writes what it hears as text: "51734846441942.", "$62.75", "card?". The card detector
reads spoken words ("five one seven", "card"), so a numeral it cannot read would let a card
through. Two guards: the tokens that hold a digit or a currency sign are suppressed while
decoding, so Whisper spells numbers out ("five one seven"); and every word is normalised as the
detector reads words (`spoken_words`): lower case, no punctuation, and a numeral that still
comes through said digit by digit over its span.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flexrec.transcription.base import EngineUnavailable, TranscriptionError, Word
from flexrec.transcription.feed import to_16k
from flexrec.transcription.install import engine_packages

FASTER_WHISPER_FILES = ("model.bin", "config.json")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CHANNEL_SEED = 0
# Decoding options over faster-whisper's own (measured in bench/results/issue19.md).
DECODE: dict[str, Any] = {}
# What makes a token a numeral: Whisper writes "$62.75", "3rd", "1,000" with these.
_NUMERAL = re.compile(r"[0-9$£€%]")
_PIECES = re.compile(r"[a-z']+|[0-9]+")


def numeral_tokens(decode: Callable[[int], str], text_tokens: int) -> list[int]:
    """The ids below `text_tokens` (Whisper's text vocabulary) whose text holds a numeral."""
    return [i for i in range(text_tokens) if _NUMERAL.search(decode(i))]


def spoken_words(
    text: str, start_ms: int, end_ms: int, confidence: float | None = None
) -> list[Word]:
    """One recognised word as the detector reads words: lower case, no punctuation, each run of
    digits said digit by digit ("4,532" -> four five three two), the span shared evenly."""
    pieces: list[str] = []
    for piece in _PIECES.findall(text.lower()):
        if piece.isdigit():
            pieces += [DIGIT_WORDS[int(d)] for d in piece]
        elif piece.strip("'"):
            pieces.append(piece.strip("'"))
    if len(pieces) <= 1:
        return [Word(p, start_ms, end_ms, confidence) for p in pieces]
    step = (end_ms - start_ms) / len(pieces)
    return [
        Word(p, start_ms + round(k * step), start_ms + round((k + 1) * step), confidence)
        for k, p in enumerate(pieces)
    ]


def _import(name: str, install: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise EngineUnavailable(f"{name} is not installed: {install}") from exc


def _float16k(samples: npt.NDArray[np.int16], sample_rate_hz: int) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = to_16k(samples, sample_rate_hz).astype(np.float32) / 32768.0
    return out


class FasterWhisperTranscriber:
    """faster-whisper (CTranslate2) over an operator-supplied model folder, CPU, int8."""

    name = "faster-whisper"

    def __init__(
        self,
        model_dir: Path,
        *,
        compute_type: str = "int8",
        threads: int = 1,
        decode: dict[str, Any] | None = None,
        batch_size: int = 0,
    ) -> None:
        self.decode = {**DECODE, **(decode or {})}
        if not model_dir.is_dir():
            raise EngineUnavailable(f"faster-whisper model folder {model_dir} does not exist")
        missing = [f for f in FASTER_WHISPER_FILES if not (model_dir / f).is_file()]
        if missing:
            raise EngineUnavailable(
                f"{model_dir} is not a faster-whisper model (missing {', '.join(missing)})"
            )
        packages = engine_packages(model_dir)
        if packages is not None and str(packages) not in sys.path:
            # Last on the path: flexrec's own environment wins for anything it has (the lock
            # leaves out what requirements.lock pins, so nothing else is shadowed).
            sys.path.append(str(packages))
        module = _import(
            "faster_whisper",
            "`flexrec transcription install faster-whisper` installs it with a model",
        )
        self._ctranslate2 = _import("ctranslate2", "it comes with faster-whisper")
        self.model = module.WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )
        # faster-whisper's batched pipeline: speech cut into pieces of up to 30 s, each one
        # window, decoded together; 0: its sequential decoding, window after window.
        self.batch_size = batch_size
        self.pipeline = module.BatchedInferencePipeline(self.model) if batch_size else None
        tokenizer = self.model.hf_tokenizer
        # -1: Whisper's own non-speech set; its text vocabulary ends where the special tokens
        # (<|endoftext|> first) begin.
        self.suppress = [
            -1,
            *numeral_tokens(
                lambda i: str(tokenizer.decode([i])), tokenizer.token_to_id("<|endoftext|>")
            ),
        ]

    def transcribe(self, samples: npt.NDArray[np.int16], sample_rate_hz: int) -> list[Word]:
        """Words of one channel with Whisper's word timestamps."""
        audio = _float16k(samples, sample_rate_hz)
        # Where a window decodes badly faster-whisper samples again at higher temperatures, from
        # CTranslate2's random generator, which nothing seeds: the same noisy channel read
        # differently from one run to the next ("twelve" or "five" inside a card reading,
        # seeds 1000-1001 at -38 dBFS). Seeded per channel, a channel's words depend on its
        # audio alone, as pocketsphinx's do. The seed is the process's: the stage reads one
        # channel at a time in its child.
        self._ctranslate2.set_random_seed(CHANNEL_SEED)
        try:
            if self.pipeline is not None:
                segments, _info = self.pipeline.transcribe(
                    audio,
                    language="en",
                    word_timestamps=True,
                    suppress_tokens=self.suppress,
                    batch_size=self.batch_size,
                    **self.decode,
                )
            else:
                segments, _info = self.model.transcribe(
                    audio,
                    language="en",
                    word_timestamps=True,
                    vad_filter=True,
                    condition_on_previous_text=False,
                    suppress_tokens=self.suppress,
                    **self.decode,
                )
            words = [
                word
                for segment in segments
                for w in (segment.words or [])
                for word in spoken_words(
                    w.word,
                    round(w.start * 1000),
                    round(w.end * 1000),
                    round(float(w.probability), 4),
                )
            ]
        except Exception as exc:  # the engine's own errors: retried with the archive job
            raise TranscriptionError(f"faster-whisper failed: {exc}") from exc
        return words


class WhisperCppTranscriber:
    """whisper.cpp through pywhispercpp over an operator-supplied ggml model file."""

    name = "whisper-cpp"

    def __init__(self, model_file: Path, *, threads: int = 1) -> None:
        if not model_file.is_file():
            raise EngineUnavailable(f"whisper.cpp model file {model_file} does not exist")
        module = _import("pywhispercpp.model", "pip install pywhispercpp")
        self.model = module.Model(
            str(model_file),
            n_threads=threads,
            language="en",
            token_timestamps=True,
            max_len=1,  # one word per segment: the segments are the words
            print_progress=False,
            print_realtime=False,
        )

    def transcribe(self, samples: npt.NDArray[np.int16], sample_rate_hz: int) -> list[Word]:
        """Words of one channel (whisper.cpp segments of one word; t0/t1 in 10 ms units)."""
        try:
            segments = self.model.transcribe(_float16k(samples, sample_rate_hz))
        except Exception as exc:
            raise TranscriptionError(f"whisper.cpp failed: {exc}") from exc
        return [
            word for s in segments for word in spoken_words(s.text, int(s.t0) * 10, int(s.t1) * 10)
        ]
