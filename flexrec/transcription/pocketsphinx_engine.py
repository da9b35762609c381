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
# Two passes over each speech region. Scoring frames against the acoustic model is 44% of the
# quick pass and a third of the full one (perf); the rest is the search, most of it in the full
# pass and in hypotheses far below the best. Scoring every other frame (`ds 2`) made the quick
# pass 1.24x faster and lost whole card readings. A tree pass alone, at most 1,500 HMMs and 10
# word exits a frame, beams 1e-35, runs ~3x faster (6 -> 17x real time per two-channel call) at
# a word error a few points worse, but the card detector then misses whole readings (49 of 238
# card digit words audible on the held-out calls, where the full search leaves none). So the
# quick pass reads every region, and a region where it heard a number word or a payment word is
# decoded again with pocketsphinx's full search, whose words are kept
# (bench/transcription_search.py).
QUICK_SEARCH = {
    "fwdflat": False,
    "maxhmmpf": 1500,
    "maxwpf": 10,
    "beam": 1e-35,
    "wbeam": 1e-25,
    "pbeam": 1e-35,
}
# What sends a region to the full search: two number words (one is "this one"; "oh", "to" and
# "for" are everyday words) or one payment word.
_NUMBER_WORDS = set(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred double triple".split()
)
_PAYMENT_WORDS = set(
    "card number expiry expire expires expiration code security cvv cvc digit digits visa "
    "mastercard amex".split()
)


def _may_hold_card_data(words: list[Word]) -> bool:
    texts = [w.text for w in words]
    return bool(_PAYMENT_WORDS.intersection(texts)) or sum(t in _NUMBER_WORDS for t in texts) >= 2


_NOT_WORDS = {"<s>", "</s>", "<sil>"}


def _decoder_class() -> Any:
    try:
        import pocketsphinx
    except ImportError as exc:  # the default engine is a dependency: a broken install
        raise EngineUnavailable("pocketsphinx is not installed") from exc
    return pocketsphinx


class PocketSphinxTranscriber:
    """pocketsphinx over the VAD's speech regions; words with times from its segmentation.

    `quick_search` / `full_search`: each pass's pocketsphinx options over its defaults (the
    quick one's replace `QUICK_SEARCH`), for measuring other settings (bench/card_data.py).
    """

    name = "pocketsphinx"

    def __init__(
        self,
        lm_path: Path | None = None,
        *,
        generic_lm: bool = False,
        quick_search: dict[str, Any] | None = None,
        full_search: dict[str, Any] | None = None,
    ) -> None:
        self.lm_path = None if generic_lm else (lm_path or DEFAULT_LM)
        self.quick_search = QUICK_SEARCH if quick_search is None else quick_search
        self.full_search = full_search or {}
        self._local = threading.local()

    def _decoders(self) -> Any:
        """This thread's quick and full decoders, the quick one at the model's initial means."""
        decoders = getattr(self._local, "decoders", None)
        if decoders is None:
            ps = _decoder_class()
            options: dict[str, Any] = {"samprate": 16000, "loglevel": "FATAL"}
            if self.lm_path is not None:
                options["lm"] = str(self.lm_path)
            decoders = (
                ps.Decoder(**{**options, **self.quick_search}),
                ps.Decoder(**{**options, **self.full_search}),
            )
            self._local.decoders = decoders
            self._local.cmn = decoders[0].get_cmn(False)
        # Cepstral mean normalisation adapts from utterance to utterance; starting every
        # channel from the model's initial means keeps a recording's words independent of
        # whatever this decoder heard before.
        decoders[0].set_cmn(self._local.cmn)
        return decoders

    def transcribe(self, samples: npt.NDArray[np.int16], sample_rate_hz: int) -> list[Word]:
        """Words of one channel, decoding only where the VAD heard speech."""
        quick, full = self._decoders()
        words: list[Word] = []
        for region in speech_regions(samples, sample_rate_hz):
            a = region.start_ms * sample_rate_hz // 1000
            b = region.end_ms * sample_rate_hz // 1000
            audio = to_16k(np.ascontiguousarray(samples[a:b]), sample_rate_hz).tobytes()
            # The means depend on the audio alone, not on the search: the full pass starts
            # from the ones the quick pass started from, as if it had read every region.
            means = quick.get_cmn(False)
            heard = _decode(quick, audio, region.start_ms)
            if _may_hold_card_data(heard):
                full.set_cmn(means)
                heard = _decode(full, audio, region.start_ms)
            words += heard
        return words


def _decode(decoder: Any, audio: bytes, offset_ms: int) -> list[Word]:
    """One utterance's words (16 kHz PCM), times from `offset_ms`."""
    decoder.start_utt()
    decoder.process_raw(audio, full_utt=True)
    decoder.end_utt()
    logmath = decoder.logmath
    words: list[Word] = []
    for seg in decoder.seg() or ():  # no hypothesis: nothing within the beams
        text = seg.word.split("(", 1)[0]
        if text in _NOT_WORDS or text.startswith(("[", "+")):
            continue
        words.append(
            Word(
                text=text.lower(),
                start_ms=offset_ms + seg.start_frame * 1000 // FRAMES_PER_SECOND,
                end_ms=offset_ms + (seg.end_frame + 1) * 1000 // FRAMES_PER_SECOND,
                confidence=round(float(logmath.exp(seg.prob)), 4),
            )
        )
    return words
