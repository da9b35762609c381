"""The default engine: CMU pocketsphinx, offline, its acoustic model from its own wheel.

The language model is flexrec's (`models/contact-centre.lm.bin`, built from the wheel's by
`scripts/build_transcription_lm.py`): the wheel's 10,000 likeliest words with digit strings made
as likely as they are on a payment call. Audio is fed per speech region at 16 kHz
(`flexrec.transcription.feed`). A decoder is not thread-safe: one per thread, built once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flexrec.transcription.base import EngineUnavailable, Word
from flexrec.transcription.feed import speech_regions, to_16k

DEFAULT_LM = Path(__file__).with_name("models") / "contact-centre.lm.bin"
FRAMES_PER_SECOND = 100
_NOT_WORDS = {"<s>", "</s>", "<sil>"}


def _decoder_class() -> Any:
    try:
        import pocketsphinx
    except ImportError as exc:  # the default engine is a dependency: a broken install
        raise EngineUnavailable("pocketsphinx is not installed") from exc
    return pocketsphinx


class PocketSphinxTranscriber:
    """pocketsphinx over the VAD's speech regions; words with times from its segmentation."""

    name = "pocketsphinx"

    def __init__(self, lm_path: Path | None = None, *, generic_lm: bool = False) -> None:
        self.lm_path = None if generic_lm else (lm_path or DEFAULT_LM)
        self._local = threading.local()

    def _decoder(self) -> Any:
        decoder = getattr(self._local, "decoder", None)
        if decoder is None:
            ps = _decoder_class()
            options: dict[str, Any] = {"samprate": 16000, "loglevel": "FATAL"}
            if self.lm_path is not None:
                options["lm"] = str(self.lm_path)
            decoder = ps.Decoder(**options)
            self._local.decoder = decoder
            self._local.cmn = decoder.get_cmn(False)
        # Cepstral mean normalisation adapts from utterance to utterance; starting every
        # channel from the model's initial means keeps a recording's words independent of
        # whatever this decoder heard before.
        decoder.set_cmn(self._local.cmn)
        return decoder

    def transcribe(self, samples: npt.NDArray[np.int16], sample_rate_hz: int) -> list[Word]:
        """Words of one channel, decoding only where the VAD heard speech."""
        decoder = self._decoder()
        words: list[Word] = []
        for region in speech_regions(samples, sample_rate_hz):
            a = region.start_ms * sample_rate_hz // 1000
            b = region.end_ms * sample_rate_hz // 1000
            audio = to_16k(np.ascontiguousarray(samples[a:b]), sample_rate_hz)
            decoder.start_utt()
            decoder.process_raw(audio.tobytes(), full_utt=True)
            decoder.end_utt()
            logmath = decoder.logmath
            for seg in decoder.seg():
                text = seg.word.split("(", 1)[0]
                if text in _NOT_WORDS or text.startswith(("[", "+")):
                    continue
                words.append(
                    Word(
                        text=text.lower(),
                        start_ms=region.start_ms + seg.start_frame * 1000 // FRAMES_PER_SECOND,
                        end_ms=region.start_ms + (seg.end_frame + 1) * 1000 // FRAMES_PER_SECOND,
                        confidence=round(float(logmath.exp(seg.prob)), 4),
                    )
                )
        return words
