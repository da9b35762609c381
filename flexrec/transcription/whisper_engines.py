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

import bisect
import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flexrec.transcription.base import EngineUnavailable, TranscriptionError, Word
from flexrec.transcription.feed import Region, speech_regions, to_16k
from flexrec.transcription.install import engine_packages

FASTER_WHISPER_FILES = ("model.bin", "config.json")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
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


def joined(
    samples: npt.NDArray[np.int16], sample_rate_hz: int, regions: list[Region]
) -> npt.NDArray[np.int16]:
    """The regions' samples one after the other (what Whisper hears with flexrec's VAD)."""
    parts = [
        samples[r.start_ms * sample_rate_hz // 1000 : r.end_ms * sample_rate_hz // 1000]
        for r in regions
    ]
    return np.ascontiguousarray(np.concatenate(parts)) if parts else samples[:0]


class Timeline:
    """Maps times in the joined regions back to the channel's own."""

    def __init__(self, regions: list[Region]) -> None:
        self.regions = regions
        self.starts: list[int] = []  # each region's start in the joined audio
        at = 0
        for region in regions:
            self.starts.append(at)
            at += region.end_ms - region.start_ms

    def at(self, joined_ms: int, *, ending: bool = False) -> int:
        """The channel's time of a moment in the joined audio (an end stays in its region)."""
        k = bisect.bisect_right(self.starts, joined_ms - 1 if ending else joined_ms) - 1
        k = max(k, 0)
        region = self.regions[k]
        return min(region.start_ms + joined_ms - self.starts[k], region.end_ms)

    def place(self, words: list[Word]) -> list[Word]:
        """`words` with the channel's times."""
        return [
            Word(w.text, self.at(w.start_ms), self.at(w.end_ms, ending=True), w.confidence)
            for w in words
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
        speech: str = "whisper",
        decode: dict[str, Any] | None = None,
    ) -> None:
        if speech not in ("whisper", "flexrec"):
            raise ValueError(f"speech must be 'whisper' or 'flexrec', not {speech!r}")
        self.speech = speech
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
        self.model = module.WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )
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
        if self.speech == "flexrec":
            regions = speech_regions(samples, sample_rate_hz)
            audio = _float16k(joined(samples, sample_rate_hz, regions), sample_rate_hz)
            timeline = Timeline(regions)
        else:
            audio = _float16k(samples, sample_rate_hz)
            timeline = None
        try:
            segments, _info = self.model.transcribe(
                audio,
                language="en",
                word_timestamps=True,
                vad_filter=timeline is None,
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
        return words if timeline is None else timeline.place(words)


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
